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


def test_comm_key_is_the_kernels_16_bytes():
    from ebcap.capture.kernel.owners import comm_key
    assert comm_key("curl") == b"curl" + b"\0" * 12
    assert comm_key("a-very-long-process-name") == b"a-very-long-pro\0"      # 15 bytes kept


def test_cgroup2_mount_from_mountinfo(tmp_path):
    from ebcap.capture.kernel.owners import _cgroup2_in
    info = tmp_path / "mountinfo"
    info.write_text("31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
                    "41 31 0:38 /a\\040b /mnt/cg\\040two rw shared:9 - cgroup2 cgroup2 rw\n")
    assert _cgroup2_in(str(info)) == ("/mnt/cg two", "/a b")
    info.write_text("31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n")
    assert _cgroup2_in(str(info)) is None


def test_run_command_line_errors():
    import pytest
    from ebcap.capture.errors import EbcapError
    from ebcap.capture.session.owners_run import command_argv
    assert command_argv("sh -c 'exit 3'") == ["sh", "-c", "exit 3"]
    for line, message in (("", "--run needs a command"),
                          ("ebcap-no-such-command x",
                           "--run: ebcap-no-such-command: command not found"),
                          ("sh -c 'unterminated", "--run: No closing quotation")):
        with pytest.raises(EbcapError) as info:
            command_argv(line)
        assert str(info.value) == message


def test_run_as_follows_z_then_sudo(monkeypatch):
    import pwd
    from ebcap.capture.session.owners_run import run_as
    nobody = pwd.getpwnam("nobody")
    assert run_as("nobody").uid == nobody.pw_uid
    monkeypatch.setenv("SUDO_UID", str(nobody.pw_uid))
    monkeypatch.setenv("SUDO_GID", str(nobody.pw_gid))
    if os.geteuid() == 0:
        user = run_as(None)
        assert (user.uid, user.gid, user.name) == (nobody.pw_uid, nobody.pw_gid, "nobody")
    monkeypatch.setenv("SUDO_UID", "0")
    assert run_as(None) is None                  # sudo from root: ebcap's own user


def test_owner_filter_combinations_are_refused(capsys):
    from ebcap.capture.cli.main import run
    assert run(["-i", "lo", "--run", "true", "--cgroup", "/"]) == 1
    assert "--run and --cgroup cannot be used together" in capsys.readouterr().err
    assert run(["-i", "lo", *[f"--comm=c{n}" for n in range(9)]]) == 1
    assert capsys.readouterr().err.strip() == "ebcap: --comm can be given at most 8 times"
    assert run(["-r", "/dev/null", "--comm", "curl"]) == 1
    assert "need a live capture" in capsys.readouterr().err
