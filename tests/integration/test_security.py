"""ebcap runs as root: nothing from the working directory may run with it (issue: safe on a
shared host). Each test plants packages and modules in a directory, starts ebcap's processes
there, and checks that none of the planted code ran."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.paths import EBCAP, FIXTURES
from tests.helpers.processes import ebcap

pytestmark = pytest.mark.kernel

# Names a child could import from its working directory: ebcap's own packages, its old
# top-level names, and a standard module the testbed's children import.
PLANTED = ("ebcap/__init__.py", "ebcap/capture/__init__.py", "ebcap/capture/kernel/__init__.py",
           "ebcap/capture/kernel/clsact.py", "ebcap/capture/extcap/__init__.py",
           "ebcap/capture/extcap/command.py", "capture/__init__.py", "socket.py",
           "pyroute2/__init__.py", "click/__init__.py")


@pytest.fixture
def planted(tmp_path) -> tuple[Path, Path]:
    """(directory full of planted code, the marker file any of it would write)."""
    here, marker = tmp_path / "cwd", tmp_path / "planted-code-ran"
    for name in PLANTED:
        path = here / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\n"
                        "raise SystemExit('planted code ran')\n")
    return here, marker


def test_ebcap_imports_nothing_from_the_working_directory(planted):
    here, marker = planted
    result = subprocess.run([str(EBCAP), "-r", str(FIXTURES / "corpus" / "ethernet.pcap"), "-c",
                             "1", "-w", str(here / "out.pcapng"), "tcp"], cwd=here,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not marker.exists(), marker.read_text()


def test_installed_extcap_imports_nothing_from_wiresharks_directory(planted, tmp_path):
    here, marker = planted
    folder = tmp_path / "extcap"
    subprocess.run([str(EBCAP), "extcap", "--install", "--dir", str(folder)], check=True,
                   capture_output=True, timeout=60)
    result = subprocess.run([str(folder / "ebcap"), "--extcap-interfaces"], cwd=here,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("extcap {version=")
    assert not marker.exists(), marker.read_text()


def test_extcap_install_does_not_write_through_a_planted_file(tmp_path):
    """The temporary file is made with O_EXCL under a random name: a symlink planted at any
    predictable name is neither followed nor made the wrapper."""
    folder, secret = tmp_path / "extcap", tmp_path / "secret"
    folder.mkdir()
    secret.write_text("root only\n")
    secret.chmod(0o600)
    for pid in range(os.getpid(), os.getpid() + 2000):
        (folder / f".ebcap.{pid}").symlink_to(secret)
    subprocess.run([str(EBCAP), "extcap", "--install", "--dir", str(folder)], check=True,
                   capture_output=True, timeout=60)
    assert secret.read_text() == "root only\n" and secret.stat().st_mode & 0o777 == 0o600
    wrapper = folder / "ebcap"
    assert not wrapper.is_symlink() and f"{EBCAP} extcap" in wrapper.read_text()


def test_clsact_guard_imports_nothing_from_the_working_directory(testbed, planted):
    here, marker = planted
    cap = ebcap(testbed, testbed.left, "-i", testbed.left.ifname, "-w", str(here / "c.pcapng"),
                "icmp", cwd=here, env={**os.environ, "EBCAP_ATTACH": "clsact"})
    testbed.ping(testbed.left, testbed.right.ipv4, count=2)
    status, err = cap.stop()
    assert status == 0, err
    assert "4 packets captured" in err          # two echo requests, two replies
    assert not marker.exists(), marker.read_text()
    # the guard ran (from the planted directory) and removed its filters
    deadline = time.monotonic() + 10
    while clsact_filters(testbed) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert clsact_filters(testbed) == []


def clsact_filters(testbed) -> list[str]:
    lines = []
    for parent in ("ingress", "egress"):
        out = testbed.run(testbed.left, ["tc", "filter", "show", "dev", testbed.left.ifname,
                                         parent], capture_output=True, text=True).stdout
        lines += [line for line in out.splitlines() if line.strip()]
    return lines


def test_testbed_children_import_nothing_from_the_working_directory(testbed, planted,
                                                                     monkeypatch):
    here, marker = planted
    monkeypatch.chdir(here)
    testbed.udp_packets(testbed.left, testbed.right.ipv4, 9, count=1)
    testbed.tcp_exchange(testbed.right, testbed.left, testbed.right.ipv4, 7000, rounds=1)
    assert not marker.exists(), marker.read_text()


def test_read_with_Z_drops_root_before_output():
    """tcpdump -r -Z: the file is read and the kernel program loaded as root, the rest (output
    file, dissection) runs as the user, whose file the output then is."""
    import pwd
    import tempfile
    shared = Path(tempfile.mkdtemp(prefix="ebcap-rZ-"))     # reachable by nobody
    try:
        shared.chmod(0o1777)
        out = shared / "out.pcapng"
        corpus = FIXTURES / "corpus" / "ethernet.pcap"
        result = subprocess.run([str(EBCAP), "-r", str(corpus), "-Z", "nobody", "-w", str(out),
                                 "tcp"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert out.stat().st_uid == pwd.getpwnam("nobody").pw_uid
        assert "79 packets captured" in result.stderr
        printed = subprocess.run([str(EBCAP), "-r", str(FIXTURES / "corpus" / "raw.pcap"), "-Z",
                                  "nobody", "-c", "3", "-V"], capture_output=True, text=True,
                                 timeout=120)
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout.count("###[ IP ]###") == 3
    finally:
        subprocess.run(["rm", "-rf", str(shared)], check=False)
