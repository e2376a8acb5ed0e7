"""What ebcap leaves in the kernel: its programs, tcx links, and the BPF objects a process holds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

BPF_LINK_TYPE_TCX = 11


def ebcap_programs() -> list[dict]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout
    return [p for p in json.loads(out or "[]") if p.get("name", "").startswith("ebcap_")]


def bpf_ids_held_by(pid: int) -> tuple[set[int], set[int]]:
    """(program ids, link ids) of the BPF objects a process holds fds to (from fdinfo)."""
    progs, links = set(), set()
    fdinfo = Path(f"/proc/{pid}/fdinfo")
    for entry in fdinfo.iterdir():
        try:
            text = entry.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key == "prog_id":
                progs.add(int(value))
            elif key == "link_id":
                links.add(int(value))
    return progs, links


def tcx_links() -> list[dict]:
    """tcx links that hold an ebcap program (bpftool names the type "tcx" or 11)."""
    ours = {p["id"] for p in ebcap_programs()}
    out = subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True, text=True).stdout
    return [l for l in json.loads(out or "[]")
            if l.get("type") in ("tcx", BPF_LINK_TYPE_TCX) and l.get("prog_id") in ours]
