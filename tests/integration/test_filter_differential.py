"""Differential filter fidelity: `ebcap -r` selects exactly the packets `tcpdump -r` selects.

For every corpus file in fixtures/corpus/ and every expression in the lists for its link type
(FILTER_LIST_FOR_LINKTYPE: accepted.txt for Ethernet, raw.txt for raw IP, ...), both programs filter the file with -w, and the
outputs must hold the same packets: same timestamps, same original lengths, same bytes, same order.
Every expression in rejected.txt must make ebcap exit 1 with tcpdump's message, "ebcap: " in front.

Both programs run once per (file, expression) in a session-wide thread pool before the first
comparison, so the ~1 s that ebcap spends compiling each filter is spread over the CPUs.

    EBCAP_DIFF_TOOL=/usr/bin/tcpdump   compare tcpdump with itself (checks this harness)
    EBCAP_DIFF_JOBS=N                  processes run at once (default: the CPU count)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ebcap.capture.pcapng.reader import CaptureFileReader
from tests.helpers.paths import EBCAP, FIXTURES

CORPUS = FIXTURES / "corpus"
FILTERS = FIXTURES / "filters"
TOOL = Path(os.environ.get("EBCAP_DIFF_TOOL") or EBCAP)
TCPDUMP = shutil.which("tcpdump") or "/usr/bin/tcpdump"
JOBS = int(os.environ.get("EBCAP_DIFF_JOBS") or os.cpu_count() or 1)
TIMEOUT_SECONDS = 120

# The lists each link type's corpus files are filtered with (fixtures/make_corpus.py and
# fixtures/make_linktype_corpus.py write the files).
IP_LINKS, COOKED, PROTOCHAIN = "ip_links.txt", "cooked.txt", "protochain.txt"
FILTER_LIST_FOR_LINKTYPE = {
    1: ("accepted.txt",),                               # EN10MB
    101: ("raw.txt",),                                  # RAW (tun)
    113: (IP_LINKS, PROTOCHAIN, COOKED),                # LINUX_SLL
    276: (IP_LINKS, PROTOCHAIN, COOKED, "sll2.txt"),    # LINUX_SLL2
    0: (IP_LINKS, PROTOCHAIN),                          # NULL
    108: (IP_LINKS, PROTOCHAIN),                        # LOOP
    9: (IP_LINKS, PROTOCHAIN),                          # PPP
    51: (IP_LINKS, PROTOCHAIN),                         # PPP_ETHER
    12: (IP_LINKS, PROTOCHAIN),                         # RAW, the BSDs' value
    228: ("ipv4.txt",),                                 # IPV4
    229: ("ipv6.txt",),                                 # IPV6
    105: (IP_LINKS, "wlan.txt"),                        # IEEE802_11
    127: (IP_LINKS, "wlan.txt"),                        # IEEE802_11_RADIO
    239: ("nflog.txt",),                                # NFLOG
}
REJECTED_CORPUS = CORPUS / "ethernet.pcap"



# ---------------------------------------------------------------------------- fixtures on disk
@dataclass(frozen=True)
class Case:
    corpus: Path
    expression: str

    @property
    def id(self) -> str:
        text = self.expression
        if len(text) > 120:  # the generated large-program expressions run to kilobytes
            text = f"{text[:100]}... ({len(text)} chars, crc {zlib.crc32(text.encode()):08x})"
        return f"{self.corpus.stem}: {text}"


def read_lines(path: Path) -> list[str]:
    lines = (line.rstrip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.lstrip().startswith("#")]


def read_rejected(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split("\t", 1)) for line in read_lines(path)]


def file_linktype(path: Path) -> int:
    return read_capture(path)[0]


def accepted_cases() -> list[Case]:
    cases = []
    for corpus in sorted(CORPUS.glob("*.pcap")):
        for filter_list in FILTER_LIST_FOR_LINKTYPE[file_linktype(corpus)]:
            cases += [Case(corpus, expression) for expression in read_lines(FILTERS / filter_list)]
    return cases


REJECTED = read_rejected(FILTERS / "rejected.txt")
REJECTED_CASES = [Case(REJECTED_CORPUS, expression) for expression, _ in REJECTED]
EXPECTED_MESSAGE = dict(REJECTED)


# ---------------------------------------------------------------------------- reading captures
@dataclass(frozen=True, repr=False)
class Record:
    ts_usec: int
    wirelen: int
    data: bytes

    def __repr__(self) -> str:  # short, so that pytest's list diffs stay readable
        return f"<packet ts={self.ts_usec}us wirelen={self.wirelen} caplen={len(self.data)} crc={zlib.crc32(self.data):08x}>"


def read_capture(path: Path) -> tuple[int, list[Record]]:
    """Both tools' outputs through ebcap's reader (tests/unit/test_pcapng.py checks it against
    dpkt and tshark): dpkt's readers do not return original lengths."""
    with path.open("rb") as f:
        reader = CaptureFileReader(f, str(path))
        records = [Record(p.ts_ns // 1000, p.wirelen, p.data) for p in reader]
        return reader.interfaces[0].linktype, records


# ---------------------------------------------------------------------------- running both programs
@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    returncode: int
    stderr: str
    linktype: int | None
    records: list[Record] | None

    def describe(self) -> str:
        return f"{' '.join(self.argv)!r} exited {self.returncode}, stderr:\n{self.stderr}"

    def error_lines(self) -> list[str]:
        """stderr without tcpdump's informational 'reading from file ...' line."""
        return [line for line in self.stderr.splitlines() if line and not line.startswith("reading from file ")]


def run_filter(program: Path | str, case: Case, out: Path) -> Run:
    # "--" keeps an expression that starts with "-" (unary minus) from being read as an option.
    argv = (str(program), "-r", str(case.corpus), "-w", str(out), "--", case.expression)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    linktype, records = read_capture(out) if proc.returncode == 0 and out.exists() else (None, None)
    return Run(argv, proc.returncode, proc.stderr, linktype, records)


class DiffRunner:
    """Runs tcpdump and the tool under test once per case; the wanted cases all at once, in a pool."""

    def __init__(self, workdir: Path, wanted: list[Case]):
        self._workdir = workdir
        self._runs: dict[tuple[str, Case], Run] = {}
        self._count = 0
        jobs = [(TCPDUMP, case) for case in wanted]
        if TOOL.exists() and TOOL.name != "ebcap":
            jobs += [(str(TOOL), case) for case in wanted]
        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            futures = {(program, case): pool.submit(run_filter, program, case, self._output(program)) for program, case in jobs}
        self._runs.update({key: future.result() for key, future in futures.items()})
        if TOOL.exists() and TOOL.name == "ebcap":
            self._runs.update(self._ebcap_batches(wanted))

    def _ebcap_batches(self, wanted: list[Case]) -> dict[tuple[str, Case], Run]:
        """ebcap runs each corpus file's expressions in one process (--filters-from), which
        spreads the per-expression compilation over the CPUs without a process start each."""
        runs = {}
        for corpus in sorted({case.corpus for case in wanted}):
            cases = [case for case in wanted if case.corpus == corpus]
            self._count += 1
            outdir = self._workdir / f"{self._count:04d}-ebcap-batch"
            outdir.mkdir()
            listing = outdir / "expressions.txt"
            listing.write_text("".join(case.expression + "\n" for case in cases))
            argv = (str(TOOL), "-r", str(corpus), "--filters-from", str(listing),
                    "--out-dir", str(outdir))
            proc = subprocess.run(argv, capture_output=True, text=True,
                                  timeout=TIMEOUT_SECONDS * 10)
            assert proc.returncode == 0, proc.stderr
            for n, case in enumerate(cases):
                error, out = outdir / f"{n:04d}.error", outdir / f"{n:04d}.pcapng"
                # the command that ran, and which of its expressions this is
                ran = (*argv, f"(expression {n + 1} of {listing.name}, output {out.name})")
                if error.exists():
                    runs[str(TOOL), case] = Run(ran, 1, error.read_text(), None, None)
                else:
                    runs[str(TOOL), case] = Run(ran, 0, "", *read_capture(out))
        return runs

    def _output(self, program: str) -> Path:
        self._count += 1
        outdir = self._workdir / f"{self._count:04d}-{Path(program).name}"
        outdir.mkdir()
        return outdir / "selected.pcapng"

    def _run(self, program: str, case: Case) -> Run:
        if (program, case) not in self._runs:
            self._runs[program, case] = run_filter(program, case, self._output(program))
        return self._runs[program, case]

    def tcpdump(self, case: Case) -> Run:
        return self._run(TCPDUMP, case)

    def tool(self, case: Case) -> Run:
        return self._run(str(TOOL), case)


@pytest.fixture(scope="session")
def diff_runner(request, tmp_path_factory) -> DiffRunner:
    if not Path(TCPDUMP).exists():
        pytest.skip("tcpdump is not installed")
    # Prefetch only what this session will compare, so `-k` selections stay quick.
    wanted = []
    for item in request.session.items:
        case = getattr(item, "callspec", None) and item.callspec.params.get("case")
        if isinstance(case, Case) and case not in wanted:
            wanted.append(case)
    if os.geteuid() != 0 and TOOL.name == "ebcap":
        wanted = []  # the comparisons that need the tool are skipped; tcpdump runs on demand
    return DiffRunner(tmp_path_factory.mktemp("filter-diff"), wanted)


@pytest.fixture
def tool_installed():
    if not TOOL.exists():
        pytest.skip(f"{TOOL} does not exist (install the project into the venv, or set EBCAP_DIFF_TOOL)")


root_only = pytest.mark.skipif(
    os.geteuid() != 0 and TOOL.name == "ebcap",
    reason="ebcap -r runs the filter in the kernel (BPF_PROG_TEST_RUN): needs root",
)


# ---------------------------------------------------------------------------- the comparisons
def input_index(case: Case) -> dict[int, int]:
    _, records = read_capture(case.corpus)
    return {record.ts_usec: i for i, record in enumerate(records)}


def explain_difference(case: Case, expected: list[Record], actual: list[Record]) -> str:
    index = input_index(case)
    want = [index.get(r.ts_usec, r.ts_usec) for r in expected]
    got = [index.get(r.ts_usec, r.ts_usec) for r in actual]
    missing = [i for i in want if i not in got]
    extra = [i for i in got if i not in want]
    lines = [f"{case.id}: tcpdump selected {len(want)} packets, {TOOL.name} {len(got)}"]
    if missing:
        lines.append(f"  only tcpdump selected packets (0-based index in {case.corpus.name}): {missing}")
    if extra:
        lines.append(f"  only {TOOL.name} selected packets: {extra}")
    if not missing and not extra:
        if want != got:
            lines.append(f"  same packets, different order: {got}")
        for e, a in zip(expected, actual):
            if e != a:
                i = index.get(e.ts_usec, e.ts_usec)
                lines.append(f"  packet {i}: tcpdump wirelen {e.wirelen} caplen {len(e.data)}, "
                             f"{TOOL.name} wirelen {a.wirelen} caplen {len(a.data)}, bytes equal: {e.data == a.data}")
                break
    lines.append(f"  see: tcpdump -d -r {case.corpus} -- '{case.expression}'")
    return "\n".join(lines)


@pytest.mark.kernel
@root_only
@pytest.mark.parametrize("case", accepted_cases(), ids=lambda c: c.id)
def test_selects_what_tcpdump_selects(case, diff_runner, tool_installed):
    expected = diff_runner.tcpdump(case)
    assert expected.returncode == 0, "fixture problem, tcpdump rejects this expression: " + expected.describe()
    actual = diff_runner.tool(case)
    assert actual.returncode == 0, actual.describe()
    assert actual.linktype == expected.linktype
    assert actual.records == expected.records, explain_difference(case, expected.records, actual.records)


@pytest.mark.parametrize("case", REJECTED_CASES, ids=lambda c: c.id)
def test_rejected_list_matches_tcpdump(case, diff_runner):
    run = diff_runner.tcpdump(case)
    assert run.returncode == 1, run.describe()
    assert run.error_lines() == [f"tcpdump: {EXPECTED_MESSAGE[case.expression]}"], run.describe()


# ebcap checks its privileges before it compiles the filter, so unprivileged runs never get that far.
@pytest.mark.kernel
@root_only
@pytest.mark.parametrize("case", REJECTED_CASES, ids=lambda c: c.id)
def test_rejects_what_tcpdump_rejects(case, diff_runner, tool_installed):
    run = diff_runner.tool(case)
    assert run.returncode == 1, run.describe()
    assert run.error_lines() == [f"{TOOL.name}: {EXPECTED_MESSAGE[case.expression]}"], run.describe()
