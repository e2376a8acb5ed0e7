"""Every bad input: one line on stderr, a non-zero exit, nothing left attached."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers.kernel_state import leftover_ebcap_programs, tcx_links
from tests.helpers.paths import EBCAP

pytestmark = pytest.mark.kernel


def run(tb, *args, host=None, prefix=()):
    argv = [*prefix, str(EBCAP), *args]
    if tb is not None:
        argv = tb.argv(host or tb.left, argv)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def assert_one_line(proc, message, status=1):
    assert proc.returncode == status, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert lines == [message]


@pytest.mark.parametrize("expression, message", [
    ("tcp port", "ebcap: can't parse filter expression: syntax error"),
    ("host no.such.host.invalid", "ebcap: unknown host 'no.such.host.invalid'"),
    ("port 99999", "ebcap: illegal port number 99999 > 65535"),
])
def test_bad_filter_gives_libpcap_message(testbed, expression, message, tmp_path):
    tb = testbed
    proc = run(tb, "-i", tb.left.ifname, "-w", str(tmp_path / "x"), *expression.split())
    ref = subprocess.run(tb.argv(tb.left, ["tcpdump", "-i", tb.left.ifname, expression]),
                         capture_output=True, text=True)
    assert ref.returncode == 1
    assert message.replace("ebcap:", "tcpdump:") in ref.stderr
    assert_one_line(proc, message)
    assert tcx_links() == []


def test_unknown_interface(testbed):
    assert_one_line(run(testbed, "-i", "nosuch0"), "ebcap: nosuch0: No such device exists")


def test_unwritable_file(testbed, tmp_path):
    tb = testbed
    proc = run(tb, "-i", tb.left.ifname, "-w", str(tmp_path / "no" / "such" / "dir.pcapng"))
    assert_one_line(proc, f"ebcap: {tmp_path}/no/such/dir.pcapng: No such file or directory")
    assert tcx_links() == []
    assert leftover_ebcap_programs() == []


def test_missing_privileges(testbed):
    tb = testbed
    proc = run(tb, "-i", tb.left.ifname,
               prefix=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                       "--inh-caps=-all"))
    assert_one_line(proc, "ebcap: you don't have permission to capture: loading BPF programs "
                          "needs root (CAP_BPF and CAP_NET_ADMIN)")


def test_unreadable_input():
    proc = run(None, "-r", "/nonexistent.pcap")
    assert_one_line(proc, "ebcap: /nonexistent.pcap: No such file or directory")


def test_not_a_capture_file(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"this is not a capture file at all")
    assert_one_line(run(None, "-r", str(bad)), f"ebcap: {bad}: unknown file format")


def test_bad_option():
    proc = run(None, "--no-such-option")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "ebcap: No such option '--no-such-option'."


def test_netns_must_be_a_network_namespace(tmp_path):
    """--netns opens what it is given without blocking (a FIFO) and checks it is a network
    namespace before entering it."""
    import os
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (fifo, "/etc/hostname", "/proc/self/ns/uts"):
        proc = run(None, "--netns", str(path), "-i", "lo", "-c", "1")
        assert_one_line(proc, f"ebcap: network namespace {path}: {path} is not a network "
                              "namespace")


def test_list_interfaces_in_another_namespace(testbed):
    proc = run(None, "--netns", testbed.left.netns, "-D")
    assert proc.returncode == 0, proc.stderr
    names = [line.split(".", 1)[1].split()[0] for line in proc.stdout.splitlines()]
    assert names == ["lo", testbed.left.ifname]
