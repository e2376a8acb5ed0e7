"""The private kernel-headers tree for BCC."""

import pytest

from ebcap.capture.kernel import kheaders
from ebcap.capture.errors import KernelFeatureError


@pytest.fixture
def fake_tree(tmp_path, monkeypatch):
    src = tmp_path / "src"
    common = src / "linux-headers-9.9.0-1-common"
    arch = src / "linux-headers-9.9.0-1-amd64"
    (common / "include/linux").mkdir(parents=True)
    (common / "include/linux/skbuff.h").write_text("/* common */")
    (arch / "include/generated").mkdir(parents=True)
    (arch / "include/generated/autoconf.h").write_text("/* arch */")
    (arch / "Makefile").write_text(f"include {common}/Makefile\n")
    (arch / "scripts").symlink_to("../../lib/linux-kbuild-9.9/scripts")
    monkeypatch.setattr(kheaders, "SRC_ROOT", src)
    monkeypatch.setattr(kheaders, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.delenv("BCC_KERNEL_SOURCE", raising=False)
    monkeypatch.setattr(kheaders.Path, "is_dir", _no_lib_modules(kheaders.Path.is_dir))
    monkeypatch.setattr(kheaders.Path, "exists", _no_lib_modules(kheaders.Path.exists))
    return tmp_path


def _no_lib_modules(real):
    def check(self):
        text = str(self)
        if text.startswith("/lib/modules") or text.startswith("/sys/kernel/kheaders"):
            return False
        return real(self)
    return check


def test_merges_common_and_arch_privately(fake_tree):
    tree, description = kheaders.kernel_headers()
    assert tree == fake_tree / "cache/kheaders/linux-headers-9.9.0-1-amd64"
    assert (tree / "include/linux/skbuff.h").read_text() == "/* common */"
    assert (tree / "include/generated/autoconf.h").read_text() == "/* arch */"
    assert not (tree / "scripts").exists()
    assert "merged from" in description
    assert kheaders.kernel_headers()[0] == tree          # made once, then reused


def test_no_headers_names_the_package(fake_tree):
    import shutil
    shutil.rmtree(fake_tree / "src")
    with pytest.raises(KernelFeatureError, match="install linux-headers-"):
        kheaders.kernel_headers()


def test_a_headers_tree_others_can_write_is_refused(fake_tree, monkeypatch):
    """BCC_KERNEL_SOURCE from the environment: compiled into a program loaded as root, so it
    must be root's (or the user's) alone."""
    tree = fake_tree / "given"
    (tree / "include").mkdir(parents=True)
    monkeypatch.setenv("BCC_KERNEL_SOURCE", str(tree))
    assert kheaders.kernel_headers() == (tree, "BCC_KERNEL_SOURCE")
    tree.chmod(0o777)
    with pytest.raises(KernelFeatureError, match="owned or writable by another user"):
        kheaders.kernel_headers()
    tree.chmod(0o755)
    (fake_tree).chmod(0o777)            # a folder above it, not sticky
    try:
        with pytest.raises(KernelFeatureError, match="is writable by other users"):
            kheaders.kernel_headers()
    finally:
        fake_tree.chmod(0o755)


def test_an_abandoned_merge_is_removed(fake_tree):
    """A merge killed part-way leaves `.NAME.PID.xxxx`; the next merge removes it when that
    process is gone, and leaves a live one's alone."""
    import os
    cache = fake_tree / "cache/kheaders"
    cache.mkdir(parents=True)
    dead = _a_dead_pid()
    abandoned = cache / f".linux-headers-9.9.0-1-amd64.{dead}.abcd"
    live = cache / f".linux-headers-9.9.0-1-amd64.{os.getpid()}.efgh"
    for leftover in (abandoned, live):
        (leftover / "include").mkdir(parents=True)
    kheaders.kernel_headers()
    assert not abandoned.exists() and live.exists()


def _a_dead_pid() -> int:
    import subprocess
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
