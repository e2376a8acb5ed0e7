"""bpf/drop_record.h is the one definition of the drop program's record, meta, counters and
config; the Python side (kernel/drop_record.py, filter/translate.py's tracepoint context) must
agree. And the comments a dropped packet's EPB carries."""

import re
import struct

import dpkt
import pytest

from ebcap.bpf import SOURCE_DIR
from ebcap.capture.errors import TranslateError
from ebcap.capture.filter import translate as tr
from ebcap.capture.filter.libpcap import Insn, compile_filter
from ebcap.capture.kernel import drop_record as dr
from ebcap.capture.kernel.drop_program import record_room
from ebcap.capture.packet import Direction, Packet
from ebcap.capture.pcapng.format import OPT_COMMENT, iter_options, parse_epb
from ebcap.capture.pcapng.writer import encode_epb
from ebcap.capture.session.drop_print import function_of, with_suffix

C_TYPES = {"__u64": "Q", "__u32": "I", "__u16": "H", "__u8": "B"}


def header():
    return (SOURCE_DIR / "drop_record.h").read_text()


def fields(name):
    body = re.search(rf"struct {name} \{{(.*?)\}};", header(), re.S).group(1)
    return [(ctype, field) for ctype, field, _count in members(body)]


def members(body):
    """(type, name, count) of each member; an array's count from the header's #defines."""
    defines = dict(re.findall(r"#define (\w+) (\d+)\b", header()))
    found = []
    for ctype, field, count in re.findall(r"^\s*(__u\d+)\s+(\w+)(?:\[([^\]]+)\])?;", body, re.M):
        expression = re.sub(r"[A-Z_]+", lambda m: defines[m.group(0)], count) if count else "1"
        found.append((ctype, field, int(eval(expression, {}))))   # the header's own text
    return found


def layout(name):
    body = re.search(rf"struct {name} \{{(.*?)\}};", header(), re.S).group(1)
    return "<" + "".join((f"{n}" if n > 1 else "") + C_TYPES[t] for t, _f, n in members(body))


def offsets(name):
    at, out = 0, {}
    for ctype, field in fields(name):
        size = struct.calcsize(C_TYPES[ctype])
        at += -at % size
        out[field] = at
        at += size
    return out


def test_record_counters_and_config_match_header():
    assert dr.RECORD.format == layout("ebcap_drop_record")
    names = [n for _, n in fields("ebcap_drop_record")]
    assert names[:2] == ["kind", "total_length"]       # where ring.py reads an EPB's length
    assert dr.COUNTERS.layout.format == layout("ebcap_drop_counters")
    assert list(vars(dr.DropCounters())) == [n for _, n in fields("ebcap_drop_counters")]
    assert dr.CONFIG.layout.format == layout("ebcap_drop_config")
    assert int(re.search(r"#define EBCAP_DROP_KIND (0x[0-9a-f]+)", header()).group(1), 16) \
        == dr.DROP_KIND
    assert int(re.search(r"#define EBCAP_DROP_RAW (\d+)", header()).group(1)) == dr.DROP_RAW
    assert int(re.search(r"#define EBCAP_DROP_DIR_SHIFT (\d+)", header()).group(1)) \
        == dr.DROP_DIR_SHIFT
    assert int(re.search(r"#define EBCAP_DROP_OWNED (\d+)", header()).group(1)) == dr.DROP_OWNED


def test_translator_tracepoint_context_matches_meta():
    meta = offsets("ebcap_drop_meta")
    assert (meta["frame"], meta["linear"], meta["len"], meta["protocol"], meta["ifindex"],
            meta["mark"], meta["hash"]) == (tr.META_FRAME, tr.META_LINEAR, tr.META_LEN,
                                            tr.META_PROTOCOL, tr.META_IFINDEX, tr.META_MARK,
                                            tr.META_HASH)
    assert tr.TRACEPOINT.length == meta["len"]
    from ebcap.capture.filter.contexts import META_PKT_TYPE, META_RAW
    assert META_RAW == meta["raw"]
    assert tr.TRACEPOINT.pkttype == META_PKT_TYPE == meta["pkt_type"]


def record(reason=3, caplen=4, flags=0, data=b"\1\2\3\4"):
    return dr.RECORD.pack(dr.DROP_KIND, dr.RECORD.size + caplen, 10**18, 0xffffffff81000000,
                          reason, 7, caplen, 60, flags, 0) + data + b"\0" * 4


def test_parse_record():
    drop = dr.parse_record(record())
    assert drop == dr.DropRecord(10**18, 0xffffffff81000000, 3, 7, 60, False, b"\1\2\3\4")
    assert dr.parse_record(record(flags=dr.DROP_RAW)).raw
    for direction in Direction:
        got = dr.parse_record(record(flags=dr.DROP_RAW | direction << dr.DROP_DIR_SHIFT))
        assert got.raw and got.direction == direction
    assert dr.parse_record(record(flags=3 << dr.DROP_DIR_SHIFT)).direction == Direction.UNKNOWN
    with pytest.raises(ValueError):
        dr.parse_record(record()[:20])
    with pytest.raises(ValueError):
        dr.parse_record(b"EPB!" + record()[4:])


def test_parse_record_with_an_owner():
    """EBCAP_DROP_OWNED: struct ebcap_owner between the header and the frame, counted in
    total_length; tgid 0 (no owner) is still there, as bytes."""
    from ebcap.capture.kernel.owners import OWNER
    owner = OWNER.pack(1234, 1235, 1000, 1000, 77, 0, b"curl".ljust(16, b"\0"), 0)
    data = b"\1\2\3\4"
    raw = dr.RECORD.pack(dr.DROP_KIND, dr.RECORD.size + OWNER.size + 4, 10**18, 1, 3, 7, 4, 60,
                         dr.DROP_OWNED, 0) + owner + data
    drop = dr.parse_record(raw)
    assert drop.owner == owner and drop.data == data and not drop.raw
    assert dr.parse_record(record()).owner == b""
    uncounted = dr.RECORD.pack(dr.DROP_KIND, dr.RECORD.size + 4, 10**18, 1, 3, 7, 4, 60,
                               dr.DROP_OWNED, 0) + owner + data
    with pytest.raises(ValueError):         # the owner's bytes not counted: not a record
        dr.parse_record(uncounted)


def test_owner_flags_only_with_owners():
    """Without --owners the drop program's flags, so its cache entry, are as they were."""
    from ebcap.capture.kernel.drop_program import FUNCTION, DropSpec
    assert DropSpec().owner_cflags() == [] and DropSpec().programs == (FUNCTION,)
    spec = DropSpec(owners=True, comm_filter=True)
    assert spec.owner_cflags() == ["-DEBCAP_OWNERS=1", "-DEBCAP_PID_FILTER=0",
                                   "-DEBCAP_COMM_FILTER=1", "-DEBCAP_CGROUP_FILTER=0"]
    assert spec.programs == (FUNCTION, "ebcap_sock_create", "ebcap_sock_addr")


def test_counters_sum_over_cpus():
    per_cpu = [dr.COUNTERS.pack(1, 2, 3, 4, 5), dr.COUNTERS.pack(10, 20, 30, 40, 50)]
    total = dr.DropCounters.sum(per_cpu) + dr.DropCounters(considered=1)
    assert total == dr.DropCounters(11, 22, 34, 44, 55)


def test_comments_go_into_the_epb_one_option_a_line():
    comments = dr.drop_comments("NO_SOCKET", "__udp4_lib_rcv+0x4bc")
    assert comments == ("Drop: NO_SOCKET", "Location: __udp4_lib_rcv+0x4bc")
    packet = Packet(1_764_000_000_000_000_001, 2, Direction.UNKNOWN, 99, b"\xaa" * 5, comments)
    block = encode_epb(packet)
    assert len(block) % 4 == 0
    assert parse_epb(block) == (2, packet.ts_ns, 99, 0, b"\xaa" * 5)
    found = [v.decode() for c, v in iter_options(block[8:-4], 20 + 8) if c == OPT_COMMENT]
    assert found == list(comments)
    # dpkt, another reader, agrees on the block and its options
    epb = dpkt.pcapng.EnhancedPacketBlockLE(block)
    assert [o.text for o in epb.opts if o.code == OPT_COMMENT] == list(comments)
    # no comments: the block is the kernel's layout, unchanged
    assert len(encode_epb(packet._replace(comments=()))) == len(block) - sum(
        4 + len(c) + (-len(c) % 4) for c in comments)


def test_a_files_comments_give_the_drop_back():
    assert dr.drop_of(dr.drop_comments("NO_SOCKET", "__udp4_lib_rcv+0x4bc")) == \
        ("NO_SOCKET", "__udp4_lib_rcv+0x4bc")
    # among a packet's other comments (an owner's), in any order; without a place
    assert dr.drop_of(("Process: curl", "Location: f+0x1", "Drop: TC_INGRESS")) == \
        ("TC_INGRESS", "f+0x1")
    assert dr.drop_of(("Drop: NETFILTER_DROP",)) == ("NETFILTER_DROP", "?")
    assert dr.drop_of(("Process: curl",)) is None and dr.drop_of(()) is None


def test_the_drop_printer_names_drops_and_passes_the_rest():
    import io
    import json
    from ebcap.capture.packet import Interface, LinkType
    from ebcap.capture.session.drop_print import DropPrinter
    from ebcap.dissectors import make_printer
    from ebcap.dissectors.options import PrintOptions
    frame = bytes.fromhex("ffffffffffff020000000001080045000020000100004011f97a0a0000010a000002"
                          "9c400009000c0000") + b"abcd"
    packet = Packet(1_000_000_000, 0, Direction.UNKNOWN, len(frame), frame)
    dropped = packet._replace(comments=dr.drop_comments("NO_SOCKET", "__udp4_lib_rcv+0x4bc"))
    interfaces = [Interface("veth0", LinkType.ETHERNET)]
    for options in (PrintOptions(numeric=True), PrintOptions(json=True)):
        out = io.StringIO()
        printer = DropPrinter(make_printer(options, interfaces, out), options, out)
        printer.print(packet)
        printer.print(dropped)
        plain, named = out.getvalue().splitlines()
        if options.json:
            assert "drop" not in json.loads(plain)
            assert json.loads(named)["drop"] == {"reason": "NO_SOCKET",
                                                 "location": "__udp4_lib_rcv+0x4bc"}
        else:
            assert named == plain + " [drop NO_SOCKET at __udp4_lib_rcv]"
            assert "[drop" not in plain


def test_reason_names_fall_back_to_the_number():
    assert dr.reason_name({3: "NO_SOCKET"}, 3) == "NO_SOCKET"
    assert dr.reason_name({}, 999) == "REASON_999"


def test_record_room():
    assert record_room(0) == tr.PEEK_BYTES
    assert record_room(100) == 128 and record_room(129) == 256 and record_room(1500) == 2048
    assert record_room(262144) == 65536


def test_printed_line_names_the_drop():
    assert function_of("__udp4_lib_rcv+0x4bc") == "__udp4_lib_rcv"
    assert with_suffix("line\n", " [drop X at f]") == "line [drop X at f]\n"
    assert with_suffix("ip\n    udp\n\t0x0000:  4500\n", " S") == "ip\n    udp S\n\t0x0000:  4500\n"


def helpers(program: bytes) -> set[int]:
    return {imm for code, _regs, _off, imm in struct.iter_unpack("<BBhi", program)
            if code == 0x85 and _regs >> 4 == 0}


def test_tracepoint_context_reads_past_the_peek_without_skb_helpers():
    insns = compile_filter("udp and ether[200] = 1", 1)
    tc, tp = tr.translate(insns), tr.translate(insns, context="tracepoint")
    assert tr.FUNC_SKB_LOAD_BYTES in helpers(tc) and tr.FUNC_SKB_LOAD_BYTES not in helpers(tp)
    assert tr.FUNC_PROBE_READ_KERNEL in helpers(tp)
    # the TC and offline contexts are what they were
    assert tr.translate(insns, context="tc") == tc
    assert tr.translate(insns, context="offline") == tr.translate(insns, offline=True)


def test_tracepoint_context_refuses_fields_it_does_not_have():
    # SKF_AD_QUEUE: a drop has no queue mapping to offer (pkt_type, SKF_AD_PKTTYPE, it has)
    for index, offered in ((24, False), (4, True)):
        load = [Insn(0x30, 0, 0, (tr.SKF_AD_OFF + index) & 0xFFFFFFFF), Insn(0x16, 0, 0, 0)]
        tr.translate(load)
        if offered:
            tr.translate(load, context="tracepoint")
            continue
        with pytest.raises(TranslateError, match="in a tracepoint"):
            tr.translate(load, context="tracepoint")


def test_an_expression_meaningless_for_one_link_type_matches_none_of_its_frames():
    from ebcap.capture.errors import FilterError
    from ebcap.capture.session.drops import NO_MATCH, filters_for
    ethernet, raw = filters_for("vlan 10")
    assert ethernet == compile_filter("vlan 10", 1) and raw == NO_MATCH
    assert filters_for("udp") == [compile_filter("udp", 1), compile_filter("udp", 101)]
    with pytest.raises(FilterError, match="syntax error"):
        filters_for("foo bar")


def test_two_filters_behind_the_raw_test():
    from ebcap.capture.kernel.drop_program import choose_filter
    ethernet, raw = tr.translate(compile_filter("udp", 1), context="tracepoint"), \
        tr.translate(compile_filter("udp", 101), context="tracepoint")
    code = choose_filter(ethernet, raw)
    load, jump = struct.unpack_from("<BBhi", code, 0), struct.unpack_from("<BBhi", code, 8)
    assert load == (0x61, (tr.R1 << 4) | tr.R0, offsets("ebcap_drop_meta")["raw"], 0)
    assert jump == (0x55, tr.R0, len(ethernet) // 8, 0)     # jne r0, 0, past the Ethernet one
    assert code[16:] == ethernet + raw


REASONS = {"NOT_DROPPED_YET": 0, "CONSUMED": 1, "NOT_SPECIFIED": 2, "NO_SOCKET": 3,
           "SOCKET_RCVBUFF": 7, "TC_INGRESS": 70}


def test_drop_reason_selection():
    every = dr.select_reasons((), REASONS)
    assert every.chosen == frozenset(REASONS.values()) and every.others
    only = dr.select_reasons(("no_socket", "SKB_DROP_REASON_TC_INGRESS"), REASONS)
    assert only.chosen == {3, 70} and not only.others
    assert only.words()[0] == 1 << 3 and only.words()[1] == 1 << 6
    but = dr.select_reasons(("!NO_SOCKET",), REASONS)
    assert 3 not in but.chosen and {2, 7, 70} <= but.chosen and but.others
    with pytest.raises(dr.EbcapError, match=r"unknown drop reason NO_SOCKT: not one of this "
                       r"kernel's \(did you mean NO_SOCKET\?\)"):
        dr.select_reasons(("NO_SOCKT",), REASONS)
    assert len(dr.CONFIG.pack(1, 2, 1, 0, *only.words())) == 16 + dr.REASON_BITS // 8
