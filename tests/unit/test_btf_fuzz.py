"""capture/kernel/btf.py on damaged blobs: whatever the bytes, a KernelFeatureError or an answer,
never another exception (an IndexError, a RecursionError, a hang)."""

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from ebcap.capture.errors import KernelFeatureError
from ebcap.capture.kernel.btf import Btf
from tests.helpers.btfblob import BtfBuilder, skb_like

BLOB = skb_like(BtfBuilder()).build()
WORDS = (len(BLOB) - 24) // 4


def ask_everything(data: bytes) -> None:
    try:
        blob = Btf(data)
        for name in ("skb", "skb_headers", "nope"):
            for call in (lambda: blob.struct_size(name), lambda: blob.members(name),
                         lambda: blob.member(name, "mac_header"),
                         lambda: blob.member(name, "headers.len"), lambda: blob.enum_values(name)):
                try:
                    call()
                except KernelFeatureError:
                    pass
    except KernelFeatureError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(24, len(BLOB) - 4), st.integers(0, 0xFFFFFFFF)), max_size=4))
def test_overwritten_words(changes):
    data = bytearray(BLOB)
    for at, value in changes:
        struct.pack_into("<I", data, at & ~3, value)
    ask_everything(bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(BLOB) - 1), st.integers(0, 255)), max_size=6))
def test_overwritten_bytes(changes):
    data = bytearray(BLOB)
    for at, value in changes:
        data[at] = value
    ask_everything(bytes(data))


def test_self_containing_anonymous_struct_and_array():
    builder = BtfBuilder()
    u32 = builder.int("unsigned int", 4)
    builder.struct("loop", 4, [("x", u32, 0), ("", 2, 32)])      # type 2 holds itself
    builder.array(4, 2, u32)                                       # type 3: array of type 4...
    builder.array(3, 2, u32)                                       # ... which is an array of 3
    builder.struct("arrays", 8, [("a", 3, 0)])
    blob = Btf(builder.build())
    for call in (lambda: blob.member("loop", "nope"), lambda: blob.member("arrays", "a")):
        try:
            call()
        except KernelFeatureError as err:
            assert "nested too deep (a loop?)" in str(err)
        else:
            raise AssertionError("no error")
