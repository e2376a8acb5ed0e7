"""`ebcap -r` on hostile files, as a process under a memory limit: exit 1, one line naming the
file and what is wrong, at most 100 MB of peak RSS, from a file and from a pipe; 300,000
interfaces in at most 64 MB (fixtures/hostile/make_hostile.py builds the corpus)."""

from __future__ import annotations

import subprocess
import threading

import pytest

from tests.helpers.hostile import hostile_script
from tests.helpers.memory import MeasuredProcess
from tests.helpers.paths import EBCAP

pytestmark = pytest.mark.kernel

PEAK_RSS_MB = 100
INTERFACES_RSS_MB = 64
# Address space: a regression that allocates what a file claims fails at once instead of
# growing; RSS itself cannot be limited (RLIMIT_RSS is ignored), so it is measured
# (tests/helpers/memory.py, which says why not straight from pytest).
ADDRESS_SPACE = 512 << 20
BANNER = "reading from file "

SCRIPT = hostile_script()
CORPUS = SCRIPT.corpus()


class Run:
    def __init__(self, args: list[str], feed=None):
        """`feed(stdin)` writes the input into a pipe when given (then ebcap reads `-r -`)."""
        measured = MeasuredProcess([str(EBCAP), *args], ADDRESS_SPACE,
                                   stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        proc = measured.proc
        writer = None
        if feed:
            writer = threading.Thread(target=_feed, args=(feed, proc.stdin), daemon=True)
            writer.start()
        stderr = proc.stderr.read().decode(errors="replace")
        self.status = measured.wait()
        if writer:
            writer.join(30)
        self.lines = [line for line in stderr.splitlines()
                      if line.strip() and not line.startswith(BANNER)]
        self.peak_mb = measured.peak_mb


def _feed(feed, stdin) -> None:
    try:
        feed(stdin)
    except BrokenPipeError:
        pass            # ebcap stopped reading: what the test wants
    finally:
        try:
            stdin.close()
        except BrokenPipeError:
            pass


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The corpus on disk, and ebcap's program compiled once beforehand (the compiler's own
    memory is not the reader's, and the cache is what a second run uses)."""
    directory = tmp_path_factory.mktemp("hostile")
    files = SCRIPT.write_corpus(directory)
    good = directory / "good.pcapng"
    good.write_bytes(SCRIPT.shb() + SCRIPT.idb() + SCRIPT.epb())
    warm = subprocess.run([str(EBCAP), "-n", "-r", str(good)], capture_output=True, text=True,
                          timeout=120)
    assert warm.returncode == 0, warm.stderr
    return directory, files


@pytest.mark.parametrize("index", range(len(CORPUS)), ids=[h.name for h in CORPUS])
def test_hostile_file_gives_one_line_and_exit_1(corpus, index):
    _directory, files = corpus
    path, message = files[index]
    run = Run(["-n", "-r", str(path)])
    assert (run.status, run.lines) == (1, [f"ebcap: {path}: {message}"])
    assert run.peak_mb <= PEAK_RSS_MB


@pytest.mark.parametrize("index", range(len(CORPUS)), ids=[h.name for h in CORPUS])
def test_hostile_file_through_a_pipe(corpus, index):
    _directory, files = corpus
    path, message = files[index]
    data = path.read_bytes()
    run = Run(["-n", "-r", "-"], feed=lambda stdin: stdin.write(data))
    assert (run.status, run.lines) == (1, [f"ebcap: -: {message}"])
    assert run.peak_mb <= PEAK_RSS_MB


def _stream(head: bytes, megabytes: int):
    def feed(stdin):
        stdin.write(head)
        chunk = b"\0" * (1 << 20)
        for _ in range(megabytes):
            stdin.write(chunk)
    return feed


@pytest.mark.parametrize("head, message", [
    (SCRIPT.shb(total=SCRIPT.HUGE)[:12],
     f"Section Header Block has an invalid length {SCRIPT.HUGE} (28 to 1048576 allowed)"),
    (SCRIPT.shb(total=11)[:12], "Section Header Block has an invalid length 11 (28 to 1048576 allowed)"),
    (SCRIPT.pcap_header() + SCRIPT.pcap_record(b"", caplen=SCRIPT.HUGE),
     f"invalid packet capture length {SCRIPT.HUGE}, bigger than snaplen of 262144"),
    (SCRIPT.shb() + SCRIPT.idb() + SCRIPT.block(6, b"", total=SCRIPT.HUGE)[:8],
     f"pcapng block size {SCRIPT.HUGE} > maximum 16777216"),
], ids=["shb-4g", "shb-11", "pcap-record-4g", "block-4g"])
def test_a_lying_length_on_an_endless_pipe_reads_no_further(head, message):
    """Before: an SHB claiming ~4 GiB on a pipe carrying 1 GB grew to 1 GB of RSS."""
    run = Run(["-n", "-r", "-"], feed=_stream(head, 512))
    assert (run.status, run.lines) == (1, [f"ebcap: -: {message}"])
    assert run.peak_mb <= PEAK_RSS_MB


@pytest.fixture(scope="module")
def many_interfaces(corpus):
    directory, _ = corpus
    path = directory / "many-interfaces.pcapng"
    path.write_bytes(SCRIPT.many_interfaces(300_000))
    return path


def test_300000_interfaces_are_read_in_64_mb(many_interfaces):
    """Before: 185 MB (tcpdump: 17 MB)."""
    run = Run(["-n", "-r", str(many_interfaces)])
    assert (run.status, run.lines) == (0, [])
    assert run.peak_mb <= INTERFACES_RSS_MB


def test_300000_interfaces_are_written_in_64_mb(many_interfaces, tmp_path):
    """Before: 160 MB with -w (every IDB and ISB encoded into one buffer)."""
    out = tmp_path / "out.pcapng"
    run = Run(["-n", "-r", str(many_interfaces), "-w", str(out)])
    assert run.status == 0, run.lines
    assert run.peak_mb <= INTERFACES_RSS_MB
    from ebcap.capture.pcapng.reader import CaptureFileReader
    with open(out, "rb") as f:
        reader = CaptureFileReader(f, str(out))
        assert [p.interface for p in reader] == [299_999]
        assert len(reader.interfaces) == 300_000
