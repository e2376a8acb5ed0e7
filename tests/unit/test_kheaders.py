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
