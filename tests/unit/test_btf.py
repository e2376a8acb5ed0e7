"""capture/kernel/btf.py: the real kernel's BTF checked against bpftool's dump, and small blobs
built here for the edge cases."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from ebcap.capture.errors import KernelFeatureError
from ebcap.capture.kernel import btf
from ebcap.capture.kernel.btf import Btf
from tests.helpers.btfblob import BtfBuilder, skb_like

VMLINUX = btf.VMLINUX
needs_vmlinux = pytest.mark.skipif(not os.access(VMLINUX, os.R_OK), reason=f"no readable {VMLINUX}")
needs_bpftool = pytest.mark.skipif(shutil.which("bpftool") is None, reason="no bpftool")
THIS_KERNEL = os.uname().release.startswith("6.18.")

# Structs ebcap reads (or may read) by offset from BPF programs, and a few large ones.
CHECKED_STRUCTS = ["sk_buff", "skb_shared_info", "sock", "sock_common", "inet_sock", "net_device",
                   "task_struct", "nsproxy", "net", "css_set", "cgroup", "iphdr", "ipv6hdr", "udphdr"]


# -- the running kernel --------------------------------------------------------------------------

class BpftoolDump:
    """bpftool's raw dump read back: types by id, with their members (or enum values)."""

    HEADER = re.compile(r"\[(\d+)\] (\w+) '([^']*)'(.*)")
    ENTRY = re.compile(r"\t'([^']*)' "
                       r"(?:type_id=(\d+) bits_offset=(\d+)(?: bitfield_size=(\d+))?|val=(-?\d+))")

    def __init__(self, text: str):
        self.types: dict[int, dict] = {}
        current = None
        for line in text.splitlines():
            if line.startswith("\t"):
                entry = self.ENTRY.match(line)   # members and enum values; not params, not secinfo
                if entry and current is not None:
                    current["entries"].append(entry.groups())
                continue
            match = self.HEADER.match(line)
            if match:
                type_id, kind, name, rest = match.groups()
                attrs = dict(re.findall(r"(\w+)=(\S+)", rest))
                current = {"kind": kind, "name": name, "attrs": attrs, "entries": []}
                self.types[int(type_id)] = current

    def named(self, kind: str, name: str) -> dict:
        return next(t for t in self.types.values() if t["kind"] == kind and t["name"] == name)

    def strip(self, type_id: int) -> dict:
        kind = self.types[type_id]
        while kind["kind"] in ("TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"):
            kind = self.types[int(kind["attrs"]["type_id"])]
        return kind

    def reachable(self, struct: dict, base: int = 0):
        """(name, bit offset, bitfield bits) of every member C reaches by name, anonymous
        structs and unions followed: an independent walk to compare Btf.member() with."""
        for name, type_id, bits, bitfield, _val in struct["entries"]:
            if name == "(anon)":
                inner = self.strip(int(type_id))
                if inner["kind"] in ("STRUCT", "UNION"):
                    yield from self.reachable(inner, base + int(bits))
            else:
                yield name, base + int(bits), int(bitfield or 0)


@pytest.fixture(scope="module")
def kernel():
    if not os.access(VMLINUX, os.R_OK):
        pytest.skip(f"no readable {VMLINUX}")
    return Btf.from_file(VMLINUX)


@pytest.fixture(scope="module")
def dump():
    if shutil.which("bpftool") is None:
        pytest.skip("no bpftool")
    out = subprocess.run(["bpftool", "btf", "dump", "file", str(VMLINUX), "format", "raw"],
                         capture_output=True, text=True, check=True).stdout
    return BpftoolDump(out)


@needs_vmlinux
@needs_bpftool
@pytest.mark.parametrize("name", CHECKED_STRUCTS)
def test_struct_matches_bpftool(kernel, dump, name):
    expected = dump.named("STRUCT", name)
    assert kernel.struct_size(name) == int(expected["attrs"]["size"])
    direct = [(m.name or "(anon)", m.bit_offset, m.bit_size) for m in kernel.members(name)]
    assert direct == [(n, int(bits), int(bf or 0)) for n, _t, bits, bf, _v in expected["entries"]]
    reachable = list(dump.reachable(expected))
    assert reachable, name
    for member_name, bits, bitfield in reachable:
        member = kernel.member(name, member_name)
        assert (member.bit_offset, member.bit_size) == (bits, bitfield), member_name


@needs_vmlinux
@needs_bpftool
def test_skb_drop_reason_matches_bpftool(kernel, dump):
    expected = dump.named("ENUM", "skb_drop_reason")
    assert kernel.enum_values("skb_drop_reason") == {n: int(v) for n, *_, v in expected["entries"]}


@needs_vmlinux
def test_sk_buff_offsets_are_the_running_kernels(kernel):
    offsets = {m: kernel.struct_member_offset("sk_buff", m)
               for m in ("head", "data", "mac_header", "network_header")}
    # Debian 6.1's headers (BCC's tree here) say 200/208/186/184: those must never come out.
    assert offsets != {"head": 200, "data": 208, "mac_header": 186, "network_header": 184}
    if THIS_KERNEL:
        assert offsets == {"head": 192, "data": 200, "mac_header": 182, "network_header": 180}
    assert kernel.struct_member_offset("sk_buff", "headers.mac_header") == offsets["mac_header"]
    assert kernel.member("sk_buff", "head").size == kernel.pointer_size == 8
    assert kernel.member("sk_buff", "mac_header").size == 2


@needs_vmlinux
def test_offset_cflags_and_dotted_paths(kernel):
    flags = btf.offset_cflags({"SKB_HEAD": "sk_buff.head", "SK_NET": "sock.__sk_common.skc_net.net",
                               "NET_INUM": "net.ns.inum"}, kernel)
    assert flags[0] == f"-DSKB_HEAD={kernel.struct_member_offset('sk_buff', 'head')}"
    assert flags[1] == f"-DSK_NET={kernel.struct_member_offset('sock_common', 'skc_net')}"
    assert [flag.split("=")[0] for flag in flags] == ["-DSKB_HEAD", "-DSK_NET", "-DNET_INUM"]
    if THIS_KERNEL:
        assert flags == ["-DSKB_HEAD=192", "-DSK_NET=48", "-DNET_INUM=176"]


@needs_vmlinux
def test_drop_reasons(kernel):
    reasons = btf.drop_reasons(kernel)
    assert reasons["NOT_SPECIFIED"] == 2
    assert reasons["NO_SOCKET"] == 3
    assert reasons["NOT_DROPPED_YET"] == 0 and reasons["CONSUMED"] == 1
    assert "MAX" not in reasons and "SUBSYS_MASK" not in reasons
    assert "SKB_DROP_REASON_NO_SOCKET" not in reasons
    if THIS_KERNEL:     # SKB_DROP_REASON_SKB_CSUM: the kernel's own name keeps its SKB_
        assert "SKB_CSUM" in reasons
    # every enumerator but the two markers, whatever this kernel's count (6.18.x point releases add reasons)
    enumerators = kernel.enum_values("skb_drop_reason")
    assert len(reasons) == len(enumerators) - 2 > 100
    assert kernel.enum_values("skb_drop_reason")["SKB_DROP_REASON_NO_SOCKET"] == 3


@needs_vmlinux
def test_bitfield_is_refused_with_its_bits(kernel):
    with pytest.raises(KernelFeatureError, match=r"sk_buff\.pkt_type is a 3-bit bitfield"):
        kernel.struct_member_offset("sk_buff", "pkt_type")
    assert kernel.member("sk_buff", "pkt_type").bit_size == 3


@needs_vmlinux
def test_missing_names_are_one_line(kernel):
    for call in (lambda: kernel.struct_size("no_such_struct_ebcap"),
                 lambda: kernel.struct_member_offset("sk_buff", "no_such_member"),
                 lambda: kernel.enum_values("no_such_enum_ebcap")):
        with pytest.raises(KernelFeatureError) as err:
            call()
        assert "\n" not in str(err.value)


@needs_vmlinux
def test_module_functions_read_vmlinux_once():
    btf.vmlinux.cache_clear()
    assert btf.struct_size("sk_buff") == btf.vmlinux().struct_size("sk_buff")
    assert btf.vmlinux() is btf.vmlinux()
    assert btf.enum_values("skb_drop_reason")["SKB_DROP_REASON_NOT_SPECIFIED"] == 2


def test_missing_btf_file(tmp_path):
    with pytest.raises(KernelFeatureError, match="CONFIG_DEBUG_INFO_BTF"):
        Btf.from_file(tmp_path / "vmlinux")


# -- synthetic blobs ---------------------------------------------------------------------------

def test_anonymous_unions_and_structs_are_followed():
    blob = Btf(skb_like(BtfBuilder()).build())
    assert blob.struct_member_offset("skb", "next") == 0
    assert blob.struct_member_offset("skb", "prev") == 8
    assert blob.struct_member_offset("skb", "rbnode") == 0
    assert blob.struct_member_offset("skb", "len") == 16
    assert blob.struct_member_offset("skb", "network_header") == 24
    assert blob.struct_member_offset("skb", "mac_header") == 26
    assert blob.struct_member_offset("skb", "headers.mac_header") == 26
    assert blob.struct_member_offset("skb", "head") == 32
    assert blob.struct_size("skb") == 40
    assert blob.member("skb", "head").size == 8
    assert [m.name for m in blob.members("skb")] == ["", "len", "pkt_type", "cloned", "", "head"]


def test_bitfields_both_encodings():
    blob = Btf(skb_like(BtfBuilder()).build())
    assert (blob.member("skb", "pkt_type").bit_offset, blob.member("skb", "pkt_type").bit_size) == (160, 3)
    assert blob.member("skb", "cloned").offset == 20
    with pytest.raises(KernelFeatureError,
                       match=r"skb\.cloned is a 1-bit bitfield at bit 163 \(byte 20 bit 3\)"):
        blob.struct_member_offset("skb", "cloned")
    # The encoding before kind_flag: the member's INT type carries the bits and their shift.
    builder = BtfBuilder()
    nibble = builder.int("unsigned int", 4, bits=4, shift=2)
    builder.struct("old", 4, [("flags", nibble, 8)], kind_flag=0)
    member = Btf(builder.build()).member("old", "flags")
    assert (member.bit_offset, member.bit_size) == (10, 4)


def test_dotted_path_through_a_non_struct():
    blob = Btf(skb_like(BtfBuilder()).build())
    with pytest.raises(KernelFeatureError, match=r"skb\.len is not a struct or union"):
        blob.member("skb", "len.x")
    with pytest.raises(KernelFeatureError, match="struct skb has no member headers.nope"):
        blob.member("skb", "headers.nope")


def test_typedef_of_an_anonymous_struct_and_arrays():
    builder = BtfBuilder()
    u32 = builder.int("unsigned int", 4)
    arr = builder.array(u32, 6, u32)
    inner = builder.struct("", 28, [("id", builder.const(u32), 0), ("words", arr, 32)])
    builder.typedef("possible_t", inner)
    blob = Btf(builder.build())
    assert blob.struct_size("possible_t") == 28
    assert blob.member("possible_t", "words").size == 24
    assert blob.struct_member_offset("possible_t", "words") == 4


def test_missing_struct_member_and_enum():
    blob = Btf(skb_like(BtfBuilder()).build())
    with pytest.raises(KernelFeatureError, match="has no struct or union sk_buff$"):
        blob.struct_size("sk_buff")
    with pytest.raises(KernelFeatureError, match="struct skb has no member data "):
        blob.struct_member_offset("skb", "data")
    with pytest.raises(KernelFeatureError, match="has no enum skb$"):
        blob.enum_values("skb")


def test_enum_signedness_and_enum64():
    builder = BtfBuilder()
    builder.enum("plain", {"A": 0, "MASK": 0xFFFF0000})
    builder.enum("negative", {"NEG": -5, "POS": 7}, signed=True)
    builder.enum64("wide", {"BIG": 1 << 40, "TOP": (1 << 64) - 1})
    builder.enum64("wide_signed", {"MINUS_ONE": -1, "HUGE": 1 << 62}, signed=True)
    blob = Btf(builder.build())
    assert blob.enum_values("plain") == {"A": 0, "MASK": 0xFFFF0000}
    assert blob.enum_values("negative") == {"NEG": -5, "POS": 7}
    assert blob.enum_values("wide") == {"BIG": 1 << 40, "TOP": (1 << 64) - 1}
    assert blob.enum_values("wide_signed") == {"MINUS_ONE": -1, "HUGE": 1 << 62}


def test_drop_reasons_strip_prefixes_and_sentinels():
    builder = BtfBuilder()
    builder.enum("skb_drop_reason", {"SKB_NOT_DROPPED_YET": 0, "SKB_CONSUMED": 1,
                                     "SKB_DROP_REASON_NOT_SPECIFIED": 2, "SKB_DROP_REASON_NO_SOCKET": 3,
                                     "SKB_DROP_REASON_MAX": 4, "SKB_DROP_REASON_SUBSYS_MASK": 0xFFFF0000})
    assert btf.drop_reasons(Btf(builder.build())) == {
        "NOT_DROPPED_YET": 0, "CONSUMED": 1, "NOT_SPECIFIED": 2, "NO_SOCKET": 3}


def test_names_stored_as_a_shared_tail_are_found():
    builder = BtfBuilder()
    u32 = builder.int("unsigned int", 4)
    builder.struct("", 4, [("x", u32, 0)])
    builder.types[-1][0] = builder.tail_name("struct_sock", "sock")
    builder.struct("struct_sock", 8, [("y", u32, 32)])
    blob = Btf(builder.build())
    assert blob.struct_size("sock") == 4
    assert blob.struct_size("struct_sock") == 8


def test_first_of_duplicate_names_wins_like_libbpf():
    builder = BtfBuilder()
    u32 = builder.int("unsigned int", 4)
    builder.typedef("dup", u32)
    builder.struct("dup", 4, [("a", u32, 0)])
    builder.struct("dup", 8, [("b", u32, 32)])
    assert Btf(builder.build()).struct_size("dup") == 4


def test_pointer_size_comes_from_long():
    builder = BtfBuilder()
    builder.int("long unsigned int", 4)
    builder.struct("s", 4, [("p", builder.ptr(1), 0)])
    assert Btf(builder.build()).member("s", "p").size == 4


@pytest.mark.parametrize("order", ["<", ">"])
def test_either_byte_order(order):
    blob = Btf(skb_like(BtfBuilder()).build(order))
    assert blob.struct_member_offset("skb", "mac_header") == 26
    assert blob.member("skb", "pkt_type").bit_size == 3


def test_every_truncation_is_a_kernel_feature_error():
    data = skb_like(BtfBuilder()).build()
    for cut in range(len(data)):
        with pytest.raises(KernelFeatureError, match="unusable BTF") as err:
            Btf(data[:cut])
        assert "\n" not in str(err.value)


def test_type_section_ending_mid_record():
    with pytest.raises(KernelFeatureError, match="type 11 runs past the end of the type section"):
        Btf(skb_like(BtfBuilder()).build(type_len_delta=-8))


def test_unknown_kind_is_named():
    builder = skb_like(BtfBuilder())
    builder.raw(0, 27, 0, 0)
    with pytest.raises(KernelFeatureError, match="type 12 has unknown kind 27"):
        Btf(builder.build())


def test_bad_magic_and_version():
    data = bytearray(skb_like(BtfBuilder()).build())
    with pytest.raises(KernelFeatureError, match="bad magic"):
        Btf(b"\0\0" + bytes(data[2:]))
    data[2] = 2
    with pytest.raises(KernelFeatureError, match="version 2"):
        Btf(bytes(data))


def test_dangling_type_reference():
    builder = BtfBuilder()
    builder.struct("s", 4, [("x", 99, 0)])
    with pytest.raises(KernelFeatureError, match="type 99, which does not exist"):
        Btf(builder.build()).members("s")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
