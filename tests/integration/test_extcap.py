"""The extcap driven the way Wireshark drives it: a real fifo, a reader, SIGTERM or an early close;
and a real Wireshark (tshark) finding and running it after --install."""

from __future__ import annotations

import os
import select
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ebcap.capture.pcapng.format import split_blocks
from tests.helpers.paths import EBCAP

from tests.helpers.processes import tshark
from tests.helpers.kernel_state import ebcap_programs

pytestmark = pytest.mark.kernel

EXTCAP = [str(EBCAP), "extcap"]
BLOCK_EPB = 6


class FifoReader:
    """Wireshark's side of the fifo: made with mkfifo, read in a thread until EOF or `hang_up()`.
    (Closing the descriptor from another thread would not do: the thread blocked in read()
    keeps the pipe's read end open.)"""

    def __init__(self, path: Path):
        os.mkfifo(path)
        self.path = path
        self.data = bytearray()
        self._hang_up = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)        # blocks until the extcap opens it
        try:
            while not self._hang_up.is_set():
                readable, _, _ = select.select([fd], [], [], 0.05)
                if readable:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break
                    self.data += chunk
        finally:
            os.close(fd)

    def hang_up(self) -> None:
        """Close the read end, as Wireshark does when it stops reading."""
        self._hang_up.set()
        self._thread.join(10)

    def wait_for(self, predicate, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(bytes(self.data)):
            if time.monotonic() > deadline:
                raise AssertionError(f"fifo: no {what} after {timeout} s ({len(self.data)} bytes)")
            time.sleep(0.05)

    def join(self, timeout: float = 20.0) -> bytes:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "fifo never reached EOF"
        return bytes(self.data)


def block_types(data: bytes) -> list[int]:
    """pcapng block types of the complete blocks in `data` (little-endian, as ebcap writes)."""
    return [struct.unpack_from("<I", block)[0] for block in split_blocks(data)]


def children_of(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def programs_of(pid: int) -> set[int]:
    """Ids of the ebcap_* programs process `pid` holds a descriptor of (bpftool here cannot show
    the owning pids, and other tests may run their own ebcap at the same time)."""
    held = set()
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = info.read_text()
        except OSError:         # closed meanwhile
            continue
        held.update(int(line.split()[1]) for line in text.splitlines()
                    if line.startswith("prog_id:"))
    return held & loaded_ebcap_programs()


def loaded_ebcap_programs() -> set[int]:
    return {p["id"] for p in ebcap_programs()}


def start_extcap(testbed, fifo: Path, *options: str) -> subprocess.Popen:
    return testbed.popen(testbed.left, [*EXTCAP, "--capture", "--extcap-interface",
                                        f"ebcap-{testbed.left.ifname}", "--fifo", str(fifo),
                                        *options],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def exited(pid: int) -> bool:
    """Gone, or a zombie whose new parent has not reaped it yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def released(child: int, programs: set[int], timeout: float = 10.0) -> bool:
    """The child has exited and its programs are unloaded (the kernel frees a program after an
    RCU grace period, so both are polled)."""
    deadline = time.monotonic() + timeout
    while not (exited(child) and not programs & loaded_ebcap_programs()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def capture_child(extcap: subprocess.Popen) -> int:
    """The ebcap process the extcap started (`ip netns exec` execs the extcap itself)."""
    deadline = time.monotonic() + 10
    while not (kids := children_of(extcap.pid)):
        assert time.monotonic() < deadline, "the extcap started no ebcap"
        time.sleep(0.05)
    return kids[0]


def test_capture_through_fifo_with_kernel_filter_then_sigterm(testbed, tmp_path):
    reader = FifoReader(tmp_path / "fifo")
    extcap = start_extcap(testbed, reader.path, "--extcap-capture-filter", "icmp")
    # ebcap writes the section header only once its program is attached
    reader.wait_for(lambda d: len(block_types(d)) >= 2, "pcapng header")
    child = capture_child(extcap)
    programs = programs_of(child)
    assert programs, "ebcap holds no ebcap_* program while capturing"

    testbed.tcp_exchange(testbed.right, testbed.left, testbed.right.ipv4, 8080)   # filtered out
    testbed.ping(testbed.left, testbed.right.ipv4, count=2)
    reader.wait_for(lambda d: block_types(d).count(BLOCK_EPB) >= 4, "4 ICMP packets")

    extcap.send_signal(signal.SIGTERM)
    out, err = extcap.communicate(timeout=20)
    data = reader.join()
    assert extcap.returncode == 0, err
    assert err == b"", "Wireshark would show any stderr as 'Error by extcap pipe'"
    assert out == b""
    assert released(child, programs)

    path = tmp_path / "fifo.pcapng"
    path.write_bytes(data)
    result = tshark("-r", str(path), "-T", "fields", "-e", "frame.interface_name",
                    "-e", "frame.protocols", "-e", "icmp.type")
    assert result.returncode == 0 and result.warnings == [], result.stderr
    rows = sorted(tuple(line.split("\t")) for line in result.stdout.splitlines())
    # headers only (the default): nothing after the ICMP header
    echo = ("veth-l", "eth:ethertype:ip:icmp")
    assert rows == [(*echo, "0"), (*echo, "0"), (*echo, "8"), (*echo, "8")], rows


def test_reader_closing_the_fifo_stops_the_capture(testbed, tmp_path):
    reader = FifoReader(tmp_path / "fifo")
    extcap = start_extcap(testbed, reader.path, "--extcap-capture-filter", "tcp port 443")
    reader.wait_for(lambda d: len(block_types(d)) >= 2, "pcapng header")
    child = capture_child(extcap)
    programs = programs_of(child)
    assert programs
    # Wireshark stops reading: no packet will ever match, so ebcap itself has nothing to write
    # that could fail with EPIPE; the extcap has to notice the closed fifo on its own.
    reader.hang_up()
    out, err = extcap.communicate(timeout=20)
    assert extcap.returncode == 0, err
    assert err == b""
    assert released(child, programs)


def test_killed_extcap_takes_its_capture_along(testbed, tmp_path):
    reader = FifoReader(tmp_path / "fifo")
    extcap = start_extcap(testbed, reader.path)
    reader.wait_for(lambda d: len(block_types(d)) >= 2, "pcapng header")
    child = capture_child(extcap)
    programs = programs_of(child)
    extcap.kill()
    extcap.wait(timeout=10)
    reader.join()                   # EOF: the child, the fifo's last writer, has exited
    assert released(child, programs)


def test_bad_filter_fails_before_touching_the_fifo(testbed, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = testbed.run(testbed.left, [*EXTCAP, "--capture", "--extcap-interface", "ebcap-veth-l",
                                        "--fifo", str(fifo), "--extcap-capture-filter", "tcp port"],
                         check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["ebcap: can't parse filter expression: syntax error"]


@pytest.fixture
def wireshark_home(tmp_path) -> dict:
    """A HOME of its own, with the extcap installed into its personal extcap folder."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    env.pop("XDG_CONFIG_HOME", None)
    installed = subprocess.run([*EXTCAP, "--install"], env=env, capture_output=True, text=True,
                               check=True, timeout=60).stdout.strip()
    assert Path(installed).is_relative_to(home)
    return env


def test_install_makes_tshark_list_the_interfaces(wireshark_home):
    result = subprocess.run(["tshark", "-D"], env=wireshark_home, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ebcap-lo (ebcap: lo (eBPF, filter in kernel))" in result.stdout


def test_tshark_captures_through_the_installed_extcap(testbed, tmp_path, wireshark_home):
    """Wireshark's own capture path: tshark -> dumpcap -> fifo <- extcap -> ebcap."""
    out = tmp_path / "tshark.pcapng"
    proc = testbed.popen(testbed.left, ["tshark", "-i", "ebcap-veth-l", "-f", "icmp", "-w",
                                        str(out), "-a", "duration:8"],
                         env=wireshark_home, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (out.exists() and out.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)                 # dumpcap writes its header before the extcap is attached
    testbed.ping(testbed.left, testbed.right.ipv4, count=2)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Error by extcap pipe" not in err.decode()
    result = tshark("-r", str(out), "-T", "fields", "-e", "icmp.type")
    assert result.returncode == 0 and result.warnings == [], result.stderr
    assert sorted(result.stdout.split()) == ["0", "0", "8", "8"]
