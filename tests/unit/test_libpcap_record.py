"""libpcap's compiles kept in a live start's record (capture/filter/libpcap.py): taken back only
for the same arguments and the same library, else compiled again; never for a file's handle."""

from __future__ import annotations

import pytest

from ebcap.capture.filter import libpcap


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(libpcap, "_compiles", {"given": [], "made": []})


def test_a_recorded_compile_is_taken_only_while_arguments_and_library_hold():
    insns = libpcap.compile_filter("tcp port 443", 1, netmask=0xffffff)
    (entry,) = libpcap.compiled()
    assert entry["key"] == ["tcp port 443", 1, libpcap.MAXIMUM_SNAPLEN, 0xffffff]
    assert entry["insns"] == [list(insn) for insn in insns]
    fake = {**entry, "insns": [[6, 0, 0, 7]]}      # recognisable if taken
    libpcap.use_compiled([fake])
    libpcap._compiles["made"] = []
    assert libpcap.compile_filter("tcp port 443", 1, netmask=0xffffff) == [libpcap.Insn(6, 0, 0, 7)]
    assert libpcap.compiled() == [fake]            # the next record keeps it as it is
    assert libpcap.compile_filter("tcp port 443", 1, netmask=0) == insns        # netmask
    assert libpcap.compile_filter("tcp port 443", 1, 96, netmask=0xffffff) != [libpcap.Insn(6, 0, 0, 7)]
    assert libpcap.compile_filter("tcp port 444", 1, netmask=0xffffff) != insns  # expression
    library = list(entry["library"])
    library[5] += 1                                 # another libpcap (its size)
    libpcap.use_compiled([{**fake, "library": library}])
    assert libpcap.compile_filter("tcp port 443", 1, netmask=0xffffff) == insns
    libpcap.use_compiled([{"key": "foreign"}, 7, {**fake, "insns": [["x"]]}])
    assert libpcap.compile_filter("tcp port 443", 1, netmask=0xffffff) == insns


def test_a_files_compile_is_not_recorded(tmp_path):
    from tests.helpers.paths import FIXTURES
    pcaps = sorted(FIXTURES.rglob("*.pcap"))
    assert pcaps
    libpcap.compile_filter("tcp", 1, savefile=str(pcaps[0]))
    assert libpcap.compiled() == []
