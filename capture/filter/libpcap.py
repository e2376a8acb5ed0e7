"""Filter expressions compiled by libpcap itself, so that they mean exactly what they mean in tcpdump.

The expression is compiled on a dead handle of the interface's link type with the optimizer on
(tcpdump's settings); the classic BPF comes back as a list of `Insn`.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections import namedtuple
from functools import cache

from ebcap.capture.errors import FilterError, KernelFeatureError

# pcap_open_dead() takes DLT_ values; files and IDBs carry LINKTYPE_ values. They differ for raw
# IP: LINKTYPE_RAW (101) is DLT_RAW, which is 12 on Linux; 14 (OpenBSD's DLT_RAW, which libpcap
# on Linux does not know) is raw IP as well.
_DLT_FOR_LINKTYPE = {101: 12, 14: 12}
MAXIMUM_SNAPLEN = 262144


class Insn(namedtuple("Insn", "code jt jf k")):
    """One classic BPF instruction (struct bpf_insn), four ints. The records a warm start makes
    are collections' named tuples: typing's NamedTuple costs its import (~5 ms) and more per
    class, on the main thread that a warm start waits for (benchmarks/startup.py)."""

    __slots__ = ()


class _BpfInsn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte),
                ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_BpfInsn))]


class _PcapPkthdr(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long),
                ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


# libpcap's sonames: Debian's, then upstream's. ctypes.util.find_library() would find either,
# but it runs `ldconfig -p` in a child process: ~1.5 ms of CPU and a fork of the whole
# interpreter at every start, so it is only the last resort.
_SONAMES = ("libpcap.so.0.8", "libpcap.so.1")


def _load_libpcap() -> ctypes.CDLL:
    for soname in _SONAMES:
        try:
            return ctypes.CDLL(soname)
        except OSError:
            continue
    from ctypes.util import find_library
    name = find_library("pcap")
    if name is None:
        raise KernelFeatureError("libpcap not found (install libpcap0.8)")
    return ctypes.CDLL(name)


@cache
def _libpcap() -> ctypes.CDLL:
    lib = _load_libpcap()
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.pcap_open_offline.restype = ctypes.c_void_p
    lib.pcap_open_offline.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_BpfProgram), ctypes.c_char_p,
                                 ctypes.c_int, ctypes.c_uint32]
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = [ctypes.c_void_p]
    lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
    lib.pcap_close.argtypes = [ctypes.c_void_p]
    lib.bpf_image.restype = ctypes.c_char_p
    lib.bpf_image.argtypes = [ctypes.POINTER(_BpfInsn), ctypes.c_int]
    lib.pcap_offline_filter.argtypes = [ctypes.POINTER(_BpfProgram), ctypes.POINTER(_PcapPkthdr),
                                        ctypes.c_char_p]
    lib.pcap_lib_version.restype = ctypes.c_char_p
    lib.pcap_lookupnet.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint32),
                                   ctypes.POINTER(ctypes.c_uint32), ctypes.c_char_p]
    return lib


def datalink_value(name: str) -> int | None:
    """libpcap's DLT value for a name such as EN10MB (None when libpcap knows no such name)."""
    lib = _libpcap()
    lib.pcap_datalink_name_to_val.argtypes = [ctypes.c_char_p]
    value = lib.pcap_datalink_name_to_val(name.encode())
    return None if value < 0 else value


def dlt_of(linktype: int) -> int:
    return _DLT_FOR_LINKTYPE.get(linktype, linktype)


# Names pcap_lookupnet() answers 0 for without asking the kernel (pcap.c; which of them depends
# on how libpcap was built): these are left to libpcap itself.
_LOOKUPNET_OWN_NAMES = ("any", "dag", "septel", "bluetooth", "usbmon", "snf", "netmap:", "vale",
                        "dpdk:")


def interface_netmask(ifname: str) -> int:
    """The netmask tcpdump compiles with on this interface: pcap_lookupnet's, or 0.

    Asked of the kernel with pcap_lookupnet's own two ioctls (capture/net/interfaces.py), so
    that a warm start whose filter comes from its record (compile_filter()) needs no libpcap:
    its dlopen is ~1.5 ms of the main thread. Where libpcap would not ask the kernel (the
    names above) or would make a mask up (a zero mask: it guesses one from the address's
    class), libpcap answers."""
    if any(own in ifname for own in _LOOKUPNET_OWN_NAMES):
        return lookupnet_netmask(ifname)
    from ebcap.capture.net.interfaces import ipv4_address_and_netmask
    try:
        _address, netmask = ipv4_address_and_netmask(ifname)
    except OSError:             # pcap_lookupnet fails too: no IPv4 address, no such device
        return 0
    if netmask == bytes(4):
        return lookupnet_netmask(ifname)
    return int.from_bytes(netmask, sys.byteorder)      # as pcap_lookupnet's bpf_u_int32


def lookupnet_netmask(ifname: str) -> int:
    """pcap_lookupnet()'s netmask for the interface, or 0 where it fails."""
    net, mask = ctypes.c_uint32(), ctypes.c_uint32()
    errbuf = ctypes.create_string_buffer(256)
    if _libpcap().pcap_lookupnet(ifname.encode(), ctypes.byref(net), ctypes.byref(mask),
                                 errbuf) != 0:
        return 0
    return mask.value


def libpcap_version() -> str:
    return _libpcap().pcap_lib_version().decode()


def compile_filter(expression: str, linktype: int, snaplen: int = MAXIMUM_SNAPLEN, *,
                   netmask: int = 0, savefile: str | None = None) -> list[Insn]:
    """Compile `expression` as tcpdump would; an empty expression accepts everything.

    `netmask` is the interface's IPv4 netmask (tcpdump passes 0 when it has none, and for
    files), which `ip broadcast` needs. With `savefile`, the handle is libpcap's own for that
    file, as in `tcpdump -r`: libpcap then refuses what a file cannot answer (`inbound`,
    `ifindex`) with tcpdump's messages. A live start's record may hold this very compile
    (use_compiled()): then libpcap is not even loaded.
    """
    key = None if savefile is not None else [expression, int(dlt_of(linktype)), int(snaplen),
                                             int(netmask)]     # plain ints: marshal's
    insns = _recorded(key) if key is not None else None
    if insns is not None:
        return insns
    lib = _libpcap()
    if savefile is not None:
        errbuf = ctypes.create_string_buffer(256)
        handle = lib.pcap_open_offline(savefile.encode(), errbuf)
        if not handle:
            raise FilterError(errbuf.value.decode(errors="replace"))
    else:
        handle = lib.pcap_open_dead(dlt_of(linktype), snaplen)
    if not handle:
        raise FilterError(f"libpcap cannot open a handle for link type {linktype}")
    program = _BpfProgram()
    try:
        if lib.pcap_compile(handle, ctypes.byref(program), expression.encode(), 1,
                            netmask) != 0:
            raise FilterError(lib.pcap_geterr(handle).decode(errors="replace"))
        insns = [Insn(i.code, i.jt, i.jf, i.k) for i in program.bf_insns[:program.bf_len]]
        lib.pcap_freecode(ctypes.byref(program))
    finally:
        lib.pcap_close(handle)
    if key is not None:
        _compiles["made"].append({"key": key, "library": _library_stamp(_loaded_path()),
                                  "insns": [list(insn) for insn in insns]})
    return insns


# A live start's compiles, kept in its record (capture/kernel/prefetch.py) so that the same
# command line's next start takes the classic BPF from there: loading libpcap (its dlopen,
# ~1.5 ms) and compiling were on a warm start's main thread. A compile is the same while its
# arguments (expression, DLT, snaplen, netmask) and the library that would be loaded are.
_compiles = {"given": [], "made": []}     # the record's (checked when asked); this process's


def use_compiled(entries) -> None:
    """The compiles a record kept (compiled() of an earlier start), for compile_filter()."""
    _compiles["given"] = entries if isinstance(entries, list) else []


def compiled() -> list[dict]:
    """This process's live compiles (taken from a record or made), for the next start's."""
    return list(_compiles["made"])


def _recorded(key: list) -> list[Insn] | None:
    for entry in _compiles["given"]:
        try:
            if entry["key"] != key or entry["library"] != _library_stamp(str(entry["library"][3])):
                continue
            insns = [Insn(*(int(field) for field in insn)) for insn in entry["insns"]]
        except Exception:           # a foreign record: compile
            continue
        _compiles["made"].append(entry)
        return insns
    return None


def _library_stamp(path: str | None) -> list | None:
    """What says the libpcap a start would load is the one a record's compile ran in: the
    dynamic loader's cache, LD_LIBRARY_PATH, and the library file's [path, mtime (ns), size,
    inode]."""
    if path is None:
        return None
    try:
        cache = os.stat("/etc/ld.so.cache")
        st = os.stat(path)
    except OSError:
        return None
    return [os.environ.get("LD_LIBRARY_PATH", ""), cache.st_mtime_ns, cache.st_ino,
            path, st.st_mtime_ns, st.st_size, st.st_ino]


def _loaded_path() -> str | None:
    """The file of the libpcap this process loaded (_libpcap())."""
    _libpcap()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) == 6 and \
                        fields[5].rstrip("\n").rsplit("/", 1)[-1].startswith("libpcap.so"):
                    return fields[5].rstrip("\n")
    except OSError:
        pass
    return None


def _as_program(insns: list[Insn]) -> tuple[_BpfProgram, ctypes.Array]:
    array = (_BpfInsn * len(insns))(*(_BpfInsn(*i) for i in insns))
    return _BpfProgram(len(insns), array), array


def dump_program(insns: list[Insn], level: int = 1) -> str:
    """The program in tcpdump's -d (level 1), -dd (2) or -ddd (3) format."""
    if level >= 3:
        return "\n".join([str(len(insns))] + [f"{i.code} {i.jt} {i.jf} {i.k}" for i in insns])
    if level == 2:
        return "\n".join(f"{{ 0x{i.code:x}, {i.jt}, {i.jf}, 0x{i.k:08x} }}," for i in insns)
    program, array = _as_program(insns)
    lib = _libpcap()
    return "\n".join(lib.bpf_image(ctypes.byref(array[n]), n).decode() for n in range(len(insns)))


def offline_match(insns: list[Insn], data: bytes, wirelen: int) -> bool:
    """libpcap's own interpreter; used only for frames too short for BPF_PROG_TEST_RUN."""
    program, _array = _as_program(insns)
    header = _PcapPkthdr(0, 0, len(data), wirelen)
    return _libpcap().pcap_offline_filter(ctypes.byref(program), ctypes.byref(header), data) != 0
