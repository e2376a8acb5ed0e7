"""ebcap's errors. Each one is a single line for stderr; capture/cli/main.py's run() prints it and
exits with ExitStatus.ERROR (capture/cli/exit.py)."""


class EbcapError(Exception):
    """A failure the user can act on: printed as `ebcap: <message>`, exit status 1."""


class FilterError(EbcapError):
    """libpcap rejected the expression (the message is libpcap's, as tcpdump prints it)."""


class TranslateError(EbcapError):
    """The compiled classic BPF holds something the eBPF translator cannot express."""


class InterfaceError(EbcapError):
    """Unknown or unusable interface."""


class PrivilegeError(EbcapError):
    """Not allowed to load BPF programs or attach them."""


class KernelFeatureError(EbcapError):
    """The kernel or toolchain lacks something ebcap needs (BPF, ring buffer, headers...)."""


class OutputError(EbcapError):
    """The output file cannot be written (unwritable, disk full...)."""


class InputError(EbcapError):
    """The input file cannot be read or is not a capture file."""


class MalformedBlock(InputError):
    """A pcapng block whose contents contradict its length, found by code that parses bytes
    without knowing whose they are (capture/pcapng/format.py): the reader adds the file name."""
