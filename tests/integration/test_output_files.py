"""`ebcap -w` into a sticky directory shared with a second, unprivileged user that this module
creates and removes: a symlink that user plants is not followed, a file or FIFO of theirs is
not written, and what ebcap creates is 0600 (fs.protected_symlinks and fs.protected_regular
are 0 on this VM: tcpdump writes through both). The capture is `-r` of the filter corpus, so no
network is needed."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.helpers.paths import EBCAP, FIXTURES

pytestmark = pytest.mark.kernel

CORPUS = FIXTURES / "corpus" / "ethernet.pcap"
SECRET = b"root's secret\n"
BANNER = "reading from file "


@pytest.fixture(scope="module")
def other_user():
    name = f"ebcap-t{os.getpid() % 100000}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "--user-group", name], check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["groupdel", name], capture_output=True)     # if userdel left it


@pytest.fixture
def shared():
    """A directory like /tmp (1777), directly under /tmp so that the other user can reach it
    (pytest's tmp_path sits below a root-only directory)."""
    directory = Path(tempfile.mkdtemp(prefix="ebcap-shared-", dir="/tmp"))
    directory.chmod(0o1777)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


def as_user(user, *argv: str) -> None:
    subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                    "--clear-groups", *argv], check=True, timeout=30)


def capture(out: Path, *, program=(str(EBCAP),)) -> tuple[int, list[str]]:
    proc = subprocess.run([*program, "-r", str(CORPUS), "-w", str(out)], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    lines = [line for line in proc.stderr.splitlines()
             if line.strip() and not line.startswith(BANNER)]
    return proc.returncode, lines


def refused(path: Path, what: str, user) -> list[str]:
    return [f"ebcap: {path}: refusing to {what} owned by {user.pw_name} (uid {user.pw_uid}) "
            "in a shared directory"]


def test_created_files_are_0600(shared):
    out = shared / "out.pcapng"
    status, lines = capture(out)
    assert status == 0, lines
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"


def test_symlink_planted_by_another_user_is_not_followed(shared, secret, other_user):
    link = shared / "out.pcapng"
    as_user(other_user, "ln", "-s", str(secret), str(link))
    assert capture(link) == (1, refused(link, "follow a symlink", other_user))
    assert secret.read_bytes() == SECRET


def test_tcpdump_does_follow_it(shared, tmp_path, other_user):
    """The trap is real on this host: tcpdump (as root) writes through the planted link."""
    target = tmp_path / "target"
    target.write_bytes(SECRET)
    link = shared / "out.pcap"
    as_user(other_user, "ln", "-s", str(target), str(link))
    status, _ = capture(link, program=("tcpdump",))
    assert status == 0
    assert target.read_bytes() != SECRET


def test_existing_file_of_another_user_is_not_written(shared, other_user):
    theirs = shared / "out.pcapng"
    as_user(other_user, "sh", "-c", f"echo their data > {theirs}")
    assert capture(theirs) == (1, refused(theirs, "write into a file", other_user))
    assert theirs.read_bytes() == b"their data\n"
    assert theirs.stat().st_uid == other_user.pw_uid


def test_fifo_of_another_user_is_refused_at_once(shared, other_user):
    fifo = shared / "out.pcapng"
    as_user(other_user, "mkfifo", str(fifo))
    assert capture(fifo) == (1, refused(fifo, "write into a FIFO", other_user))


def test_symlinked_directory_of_another_user_is_not_followed(shared, tmp_path, other_user):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = shared / "dir"
    as_user(other_user, "ln", "-s", str(elsewhere), str(link))
    status, lines = capture(link / "out.pcapng")
    assert (status, lines) == (1, refused(link / "out.pcapng", "follow a symlink", other_user))
    assert list(elsewhere.iterdir()) == []


def test_own_files_and_symlinks_behave_as_with_tcpdump(shared, tmp_path):
    mine = shared / "mine.pcapng"
    mine.write_bytes(b"old")
    mine.chmod(0o644)
    assert capture(mine)[0] == 0
    assert mine.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert stat.S_IMODE(mine.stat().st_mode) == 0o644       # an existing file keeps its mode
    target = tmp_path / "through-my-link.pcapng"
    (shared / "link").symlink_to(target)
    assert capture(shared / "link")[0] == 0
    assert target.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
