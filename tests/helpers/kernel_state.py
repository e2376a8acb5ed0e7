"""What ebcap leaves in the kernel: its programs, tcx links, and the BPF objects a process holds."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

BPF_LINK_TYPE_TCX = 11


def ebcap_programs() -> list[dict]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout
    return [p for p in json.loads(out or "[]") if p.get("name", "").startswith("ebcap_")]


def _fdinfo_ids(pid: int) -> tuple[set[int], set[int], set[int]]:
    """(program ids, link ids, map ids) of the BPF objects a process holds fds to (from fdinfo)."""
    held: tuple[set[int], set[int], set[int]] = (set(), set(), set())
    keys = {"prog_id": held[0], "link_id": held[1], "map_id": held[2]}
    for entry in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = entry.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key in keys:
                keys[key].add(int(value))
    return held


def bpf_ids_held_by(pid: int) -> tuple[set[int], set[int]]:
    """(program ids, link ids) of the BPF objects a process holds fds to (from fdinfo)."""
    progs, links, _ = _fdinfo_ids(pid)
    return progs, links


def _parent(pid: int) -> int:
    try:    # /proc/PID/stat: "pid (comm) state ppid ...", and comm may hold spaces or parentheses
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _outside_this_test(pid: int) -> bool:
    me = os.getpid()
    while pid > 1:
        if pid == me:
            return False
        pid = _parent(pid)
    return True


def held_elsewhere() -> tuple[set[int], set[int], set[int]]:
    """(program ids, link ids, map ids) held through fds by processes that are not this test
    process or its descendants: another ebcap on the same host (a second checkout's suite, a
    user's capture) holds its own."""
    held: tuple[set[int], set[int], set[int]] = (set(), set(), set())
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _outside_this_test(int(entry.name)):
            try:
                ids = _fdinfo_ids(int(entry.name))
            except OSError:     # the process exited while we looked
                continue
            for mine, theirs in zip(held, ids):
                mine |= theirs
    return held


def _all_links() -> list[dict]:
    out = subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True, text=True).stdout
    return json.loads(out or "[]")


def maps_held_elsewhere() -> set[int]:
    """Map ids that processes outside this test use: map fds of their own, or through programs
    they hold (directly or by a link)."""
    progs, links, maps = held_elsewhere()
    progs |= {l.get("prog_id") for l in _all_links() if l.get("id") in links}
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout
    return maps | {m for p in json.loads(out or "[]") if p.get("id") in progs
                   for m in p.get("map_ids", [])}


def leftover_ebcap_programs() -> list[dict]:
    """ebcap programs that neither a process outside this test holds nor a link such a process
    holds: what this test's ebcap runs left loaded."""
    progs, links, _ = held_elsewhere()
    progs |= {l.get("prog_id") for l in _all_links() if l.get("id") in links}
    return [p for p in ebcap_programs() if p["id"] not in progs]


def tcx_links() -> list[dict]:
    """tcx links that hold an ebcap program (bpftool names the type "tcx" or 11) and that no
    process outside this test holds: what this test's ebcap runs left behind. A tcx link lives
    only while a process holds its fd (nothing here pins one), so a link left by an ebcap that
    exited would show here as held by nobody, and one held by a stuck child of the test as ours."""
    ours = {p["id"] for p in ebcap_programs()}
    elsewhere = held_elsewhere()[1]
    return [l for l in _all_links()
            if l.get("type") in ("tcx", BPF_LINK_TYPE_TCX) and l.get("prog_id") in ours
            and l.get("id") not in elsewhere]
