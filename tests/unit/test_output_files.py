"""-w files (capture/pcapng/output.py): created 0600; in a shared directory (world-writable, or
sticky and group-writable) another user's symlink is not followed and another user's file or
FIFO is not written, whatever fs.protected_* say. Names are planted here by root with lchown to an unused uid;
tests/integration/test_output_files.py plants them as a real second user and runs ebcap."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from ebcap.capture.errors import OutputError
from ebcap.capture.packet import Direction, Interface, Packet
from ebcap.capture.pcapng.output import open_output_file
from ebcap.capture.pcapng.rotation import RotatingWriter

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="plants files owned by another uid")

OTHER = 54321           # no such user here: a uid nobody else owns files as
SECRET = b"root's secret\n"
REFUSED_LINK = f"refusing to follow a symlink owned by uid {OTHER} in a shared directory"


@pytest.fixture
def shared(tmp_path):
    """A directory like /tmp (1777), and a root-only file outside it that a planted symlink
    points at."""
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o1777)
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    return directory, secret


def plant_symlink(link, target, uid=OTHER):
    os.symlink(target, link)
    os.lchown(link, uid, uid)


def write(path: str, data: bytes = b"capture") -> None:
    with open_output_file(str(path)) as f:
        f.write(data)


def test_new_file_is_0600_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        write(tmp_path / "out.pcapng")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.pcapng").stat().st_mode) == 0o600


def test_own_existing_file_is_truncated_and_keeps_its_mode(shared):
    directory, _ = shared
    out = directory / "mine"
    out.write_bytes(b"x" * 1000)
    out.chmod(0o640)
    write(out, b"new")
    assert out.read_bytes() == b"new"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_a_file_just_made_is_not_truncated(tmp_path, monkeypatch):
    """A truncate to 0 makes ext4 write the whole file back at close (auto_da_alloc), which
    the exit pays for; a new file has nothing to truncate, an empty one with blocks has."""
    truncated = []
    real = os.ftruncate
    monkeypatch.setattr(os, "ftruncate", lambda fd, n: (truncated.append(n), real(fd, n)))
    write(tmp_path / "new.pcapng")
    assert truncated == []
    (tmp_path / "new.pcapng").write_bytes(b"")
    write(tmp_path / "new.pcapng", b"again")
    assert truncated == [] and (tmp_path / "new.pcapng").read_bytes() == b"again"
    write(tmp_path / "new.pcapng", b"new")
    assert truncated == [0] and (tmp_path / "new.pcapng").read_bytes() == b"new"


def test_another_users_symlink_is_not_followed(shared):
    directory, secret = shared
    plant_symlink(directory / "out.pcapng", secret)
    with pytest.raises(OutputError) as caught:
        write(directory / "out.pcapng")
    assert str(caught.value) == (f"{directory}/out.pcapng: refusing to follow a symlink owned "
                                 f"by uid {OTHER} in a shared directory")
    assert secret.read_bytes() == SECRET


def test_another_users_dangling_symlink_creates_nothing(shared, tmp_path):
    directory, _ = shared
    plant_symlink(directory / "out.pcapng", tmp_path / "created-by-root")
    with pytest.raises(OutputError, match=REFUSED_LINK):
        write(directory / "out.pcapng")
    assert not (tmp_path / "created-by-root").exists()


def test_another_users_symlink_to_a_directory_on_the_way_is_not_followed(shared, tmp_path):
    directory, _ = shared
    target = tmp_path / "elsewhere"
    target.mkdir()
    plant_symlink(directory / "d", target)
    with pytest.raises(OutputError, match="refusing to follow a symlink owned by"):
        write(directory / "d" / "out.pcapng")
    assert list(target.iterdir()) == []


def test_another_users_file_is_not_written(shared):
    directory, _ = shared
    theirs = directory / "out.pcapng"
    theirs.write_bytes(b"their data")
    os.chown(theirs, OTHER, OTHER)
    with pytest.raises(OutputError) as caught:
        write(theirs)
    assert str(caught.value) == (f"{theirs}: refusing to write into a file owned by uid {OTHER} "
                                 "in a shared directory")
    assert theirs.read_bytes() == b"their data"


def test_another_users_fifo_is_refused_without_waiting_for_a_reader(shared):
    directory, _ = shared
    fifo = directory / "out.pcapng"
    os.mkfifo(fifo)
    os.chown(fifo, OTHER, OTHER)
    with pytest.raises(OutputError, match="refusing to write into a FIFO owned by uid"):
        write(fifo)


def test_own_fifo_waits_for_its_reader_as_tcpdump_does(shared):
    directory, _ = shared
    fifo = directory / "out.pcapng"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write(fifo, b"through the fifo")
    reader.join(10)
    assert got == [b"through the fifo"]


def test_own_and_roots_symlinks_are_followed(shared, tmp_path):
    directory, _ = shared
    target = tmp_path / "target.pcapng"
    plant_symlink(directory / "root-link", target, uid=0)
    write(directory / "root-link", b"one")
    assert target.read_bytes() == b"one"
    plant_symlink(directory / "chain", directory / "root-link", uid=0)     # link to a link
    write(directory / "chain", b"two")
    assert target.read_bytes() == b"two"


def test_symlink_through_another_users_link_is_refused(shared, tmp_path):
    directory, secret = shared
    plant_symlink(directory / "theirs", secret)
    plant_symlink(directory / "mine", directory / "theirs", uid=0)
    with pytest.raises(OutputError, match=REFUSED_LINK):
        write(directory / "mine")
    assert secret.read_bytes() == SECRET


def test_outside_shared_directories_ebcap_follows_like_tcpdump(tmp_path):
    """A directory only its owner writes: its symlinks and files are its owner's business."""
    target = tmp_path / "target"
    plant_symlink(tmp_path / "link", target)
    write(tmp_path / "link", b"followed")
    assert target.read_bytes() == b"followed"


def test_a_symlink_loop_is_an_error_not_a_hang(tmp_path):
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    with pytest.raises(OutputError, match="Too many levels of symbolic links"):
        write(tmp_path / "a")


def test_errors_keep_their_one_line_form(tmp_path):
    with pytest.raises(OutputError, match=f"^{tmp_path}/no/such/x: No such file or directory$"):
        write(tmp_path / "no" / "such" / "x")
    with pytest.raises(OutputError, match="Is a directory"):
        write(tmp_path)


def test_dash_is_stdout():
    stream = open_output_file("-")
    try:
        assert os.path.sameopenfile(stream.fileno(), 1)
    finally:
        stream.close()


def test_rotation_refuses_a_planted_next_file(shared):
    """-C: the next file's name is known in advance; another user planting it stops the capture
    with one line rather than writing into their file."""
    directory, secret = shared
    plant_symlink(directory / "out1", secret)
    writer = RotatingWriter(str(directory / "out"), [Interface("lo")], size_limit=100,
                            seconds=None, max_files=None, stats=lambda: [])
    packet = Packet(1, 0, Direction.IN, 200, b"\0" * 200)
    writer.write(packet)
    with pytest.raises(OutputError, match=f"^{directory}/out1: refusing to follow"):
        writer.write(packet)
    assert secret.read_bytes() == SECRET
    assert stat.S_IMODE((directory / "out").stat().st_mode) == 0o600


def test_a_world_writable_directory_without_the_sticky_bit_is_shared_too(tmp_path, shared):
    """Worse than /tmp: anyone may also rename root's entries there. The kernel's protections
    cover sticky directories only; ebcap's cover this one too."""
    _, secret = shared
    directory = tmp_path / "open"
    directory.mkdir()
    directory.chmod(0o777)
    plant_symlink(directory / "out.pcapng", secret)
    with pytest.raises(OutputError, match=REFUSED_LINK):
        write(directory / "out.pcapng")
    assert secret.read_bytes() == SECRET


def test_dev_stdout_still_works(tmp_path):
    """/dev/stdout -> /proc/self/fd/1 -> "pipe:[N]" or a file: a magic link the kernel follows."""
    out = tmp_path / "redirected"
    with open(out, "wb") as f:
        saved = os.dup(1)
        os.dup2(f.fileno(), 1)
        try:
            write("/dev/stdout", b"to stdout")
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    assert out.read_bytes() == b"to stdout"


def test_roots_file_hard_linked_into_a_shared_directory_is_not_written(shared):
    """With fs.protected_hardlinks = 0 anyone may link root's files into /tmp: the file is
    root's, the name is not."""
    directory, secret = shared
    os.link(secret, directory / "out.pcapng")
    with pytest.raises(OutputError, match="refusing to write into a file with 2 hard links"):
        write(directory / "out.pcapng")
    assert secret.read_bytes() == SECRET
