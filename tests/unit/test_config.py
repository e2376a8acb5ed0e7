from ebcap.capture.config import HEADERS_ONLY, parse_snaplen
from ebcap.capture.kernel.source import PAGE_SIZE, ring_size


def test_snaplen_follows_tcpdump():
    assert parse_snaplen(None, reading=False) == HEADERS_ONLY
    assert parse_snaplen(None, reading=True) == 262144
    assert parse_snaplen(0, reading=False) == 262144
    assert parse_snaplen(96, reading=False) == 96
    assert parse_snaplen(10 ** 7, reading=False) == 262144


def test_ring_size_is_a_power_of_two_pages():
    assert ring_size(None) == 8 << 20
    assert ring_size(3000) == 4 << 20
    assert ring_size(1) == PAGE_SIZE
