"""--owners in user space: the kernel's owner option (bpf/record.h) becomes ptcpdump's comments,
which the reader turns back into the owner."""

import io
import os
import re
import struct

from ebcap.bpf import SOURCE_DIR
from ebcap.capture.owner import Owner, owner_from_comments
from ebcap.capture.packet import Direction, Interface, Packet
from ebcap.capture.pcapng.format import EPB_HEAD, iter_options, OPT_COMMENT
from ebcap.capture.pcapng.reader import CaptureFileReader
from ebcap.capture.pcapng.writer import PcapngWriter, encode_epb
from ebcap.capture.session.owners import OPT_OWNER, OWNER, OwnerDirectory

C_TYPES = {"__u32": "I", "__u16": "H", "__u8": "B"}


def test_owner_struct_and_option_code_match_record_h():
    header = (SOURCE_DIR / "record.h").read_text()
    body = re.search(r"struct ebcap_owner \{(.*?)\};", header, re.S).group(1)
    fields = re.findall(r"^\s*(__u\d+)\s+(\w+)(?:\[(\d+)\])?;", body, re.M)
    fmt = "<" + "".join(f"{n}s" if n else C_TYPES[t] for t, _name, n in fields)
    assert fmt == OWNER.format
    assert re.search(rf"#define EBCAP_OPT_OWNER 0x{OPT_OWNER:X}\b", header)


def kernel_block(payload: bytes, tgid: int, comm: bytes = b"curl") -> bytes:
    """An EPB laid out as bpf/ebcap.c builds it with EBCAP_OWNERS."""
    padded = payload + b"\0" * (-len(payload) % 4)
    tail = (struct.pack("<HHI", 2, 4, 2) + struct.pack("<HH", OPT_OWNER, OWNER.size)
            + OWNER.pack(tgid, tgid + 1, 1000, 1000, 1, 0, comm, 0) + struct.pack("<I", 0))
    total = EPB_HEAD.size + len(padded) + len(tail) + 4
    return (EPB_HEAD.pack(6, total, 0, 1, 2, len(payload), 60) + padded + tail
            + struct.pack("<I", total))


def test_rewrite_makes_ptcpdumps_comments():
    directory = OwnerDirectory()
    directory._processes[(4242, "curl")] = ("/usr/bin/curl", "curl -s http://x/")
    block, owner = directory.rewrite(kernel_block(b"\xaa" * 15, 4242))
    assert owner == Owner(4242, "/usr/bin/curl", "curl -s http://x/", 4243, "curl", 1000,
                          owner.cgroup, os.stat("/proc/self/ns/net").st_ino)
    assert len(block) % 4 == 0
    assert struct.unpack_from("<I", block, 4)[0] == len(block) == struct.unpack_from("<I", block, len(block) - 4)[0]
    comments = [value.decode() for code, value in iter_options(block[8:-4], 20 + 16)
                if code == OPT_COMMENT]
    assert comments[:3] == ["PID: 4242\nCmd: /usr/bin/curl\nArgs: curl -s http://x/",
                            "ThreadId: 4243\nThreadName: curl", "UserId: 1000"]
    assert owner_from_comments(comments)[:6] == owner[:6]
    assert f"NetNs: {owner.netns}" in comments and owner_from_comments(comments).netns == owner.netns


def test_no_owner_leaves_the_fast_paths_block():
    block, owner = OwnerDirectory().rewrite(kernel_block(b"\x01\x02\x03\x04", 0))
    assert owner is None
    assert len(block) == EPB_HEAD.size + 4 + 16


def test_comments_survive_a_file_and_print():
    owner = Owner(77, "/usr/bin/nc", "nc -u h 53", 78, "nc", 0, "/system.slice/x.service")
    stream = io.BytesIO()
    writer = PcapngWriter(stream, [Interface("eth0")], "mem")
    writer.write(Packet(10**18, 0, Direction.OUT, 60, b"\0" * 60, owner=owner))
    writer.flush()
    packets = list(CaptureFileReader(io.BytesIO(stream.getvalue()), "mem"))
    assert packets[0].owner == owner and owner.label == "nc.77"
    assert packets[0].comments == tuple(owner.comments())      # -r -w keeps them as they were
    assert encode_epb(packets[0]) == stream.getvalue()[-len(encode_epb(packets[0])):]


def test_loopback_is_captured_at_egress_with_owners():
    """At loopback ingress a packet no longer has its socket; each packet is still shown once."""
    from ebcap.capture.session.attach import hooks
    from ebcap.capture.kernel.source import EGRESS, INGRESS
    assert [name for name, _ in hooks("inout", True)] == [INGRESS]
    assert [name for name, _ in hooks("inout", True, owners=True)] == [EGRESS]
    assert [name for name, _ in hooks("inout", False, owners=True)] == [INGRESS, EGRESS]


def test_storage_btf_is_what_the_kernel_checks():
    """An int key (BTF_KIND_INT, 32 bits, signed) and a value type of the value's size."""
    from ebcap.capture.kernel.owners import storage_btf
    blob = storage_btf(40)
    magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        "<HBBIIIII", blob)
    assert (magic, version, hdr_len) == (0xEB9F, 1, 24)
    assert len(blob) == hdr_len + type_len + str_len and str_off == type_len
    name_off, info, size, encoding = struct.unpack_from("<IIII", blob, 24)
    assert info >> 24 == 1 and size == 4 and encoding & 0xFF == 32
    assert struct.unpack_from("<IIIIII", blob, 24 + 32)[5] == 40
