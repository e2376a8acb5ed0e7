"""-d, --dump-c and --dump-ebpf: what ebcap would give the kernel, printed instead of run. The
classic BPF is libpcap's (as tcpdump -d prints it), the C is the compiled program's (the same
for every filter), and the eBPF is that program with the filter spliced in, as loaded."""

from __future__ import annotations

from ebcap.capture.config import CaptureConfig
from ebcap.capture.filter.libpcap import compile_filter, dump_program
from ebcap.capture.packet import LinkType


def _linktype(config: CaptureConfig) -> int:
    if config.read_from:
        from ebcap.capture.session.offline import file_linktype
        return file_linktype(config.read_from)
    # -i any: each link type of the interfaces gets its own program; Ethernet's is shown
    if not config.interfaces or "any" in config.interfaces:
        return LinkType.ETHERNET
    if config.netns:
        from ebcap.capture.net.netns import enter
        enter(config.netns)
    from ebcap.capture.net.interfaces import linktype
    return linktype(config.interfaces[0])


def print_dump(config: CaptureConfig) -> int:
    linktype = _linktype(config)
    insns = compile_filter(config.expression, linktype)
    if config.dump_level:
        print(dump_program(insns, config.dump_level))
        return 0
    from ebcap.capture.kernel.source import ProgramSource, ProgramSpec, ring_size
    spec = ProgramSpec(linktype=linktype, snaplen=config.snaplen,
                       ring_bytes=ring_size(config.buffer_kib),
                       offline=config.read_from is not None)
    source = ProgramSource(spec)
    if config.dump_c:
        print(source.text(), end="")
        return 0
    from ebcap.capture.kernel.disasm import listing
    from ebcap.capture.kernel.program import compiled_program, tc_filters
    from ebcap.capture.kernel.splice import splice
    from ebcap.capture.session.attach import by_socket, hooks
    filter_insns = tc_filters(insns, spec.offline)
    programs = compiled_program(source).programs
    loopback = False
    if config.interfaces and not config.read_from and "any" not in config.interfaces:
        from ebcap.capture.net.interfaces import is_loopback
        loopback = is_loopback(config.interfaces[0])
    wanted = [name for name, _type in hooks(config.direction, loopback)] if not spec.offline \
        else ["ebcap_ingress"]
    if by_socket(config) and not spec.offline:
        from ebcap.capture.kernel.source import SOCKET
        wanted = [SOCKET]           # -i any's socket filter (capture/kernel/packet_socket.py)
    for name in wanted:
        print(f"; {name}: the compiled program, then the filter from its call on "
              "(map references hold the compiler's fds until loaded)")
        print(listing(splice(programs[name], filter_insns)))
    return 0
