"""A kernel headers tree for BCC, found or made privately.

BCC compiles against /lib/modules/$(uname -r)/build. Where that is missing (a kernel without its
headers package, as on many cloud and CI hosts), ebcap merges the distribution's newest headers
package (Debian splits it into linux-headers-X-common and linux-headers-X-ARCH) into one tree under
its own cache directory and points BCC at it with BCC_KERNEL_SOURCE, for its own process only.
/lib/modules is never touched: a mismatched tree there would mislead DKMS and other tools.

A TC program only uses stable UAPI structures (__sk_buff, helpers), so headers of another kernel
version compile it correctly.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from ebcap.capture.errors import KernelFeatureError
from ebcap.capture.kernel import cache

SRC_ROOT = Path("/usr/src")


def cache_root() -> Path:
    """ebcap's cache directory (capture/kernel/cache.py's), which the merged tree goes under."""
    return Path(cache.cache_root())


def _writable_by_others(tree: Path) -> str | None:
    """Why a headers tree given from outside may not be used: it or a folder above it is
    owned by another user, or writable by others (a sticky folder such as /tmp only above it)."""
    try:
        st = os.stat(tree)
    except OSError as exc:
        return exc.strerror
    if st.st_uid not in (0, os.geteuid()) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "owned or writable by another user"
    for parent in tree.resolve().parents:
        st = os.stat(parent)
        if st.st_uid not in (0, os.geteuid()) or (
                st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX):
            return f"{parent} is writable by other users"
    return None


def _version_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _distribution_build_dirs() -> list[Path]:
    """Prepared arch trees (they hold include/generated/autoconf.h), newest first."""
    if not SRC_ROOT.is_dir():
        return []
    found = [d for d in SRC_ROOT.glob("linux-headers-*")
             if (d / "include/generated/autoconf.h").is_file()]
    return sorted(found, key=lambda d: _version_key(d.name), reverse=True)


def _common_dir(build: Path) -> Path | None:
    """The source half of a Debian headers package, named in the arch tree's Makefile."""
    makefile = build / "Makefile"
    if makefile.is_file():
        match = re.search(r"include\s+(\S+)/Makefile", makefile.read_text(errors="replace"))
        if match and Path(match.group(1)).is_dir():
            return Path(match.group(1))
    return None


def _remove_abandoned(dest: Path) -> None:
    """Merges cut short (the process killed part-way) leave `.NAME.PID.*` folders of up to
    ~80 MB: remove those whose process is gone."""
    import shutil
    for leftover in dest.parent.glob(f".{dest.name}.*.*"):
        pid = leftover.name[len(dest.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(leftover, ignore_errors=True)


def _merge(build: Path, common: Path | None, dest: Path) -> None:
    """Copy common, then the arch tree over it, into `dest` (made atomically)."""
    import shutil                   # here only: a start with the tree made needs neither
    import tempfile
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.{os.getpid()}.", dir=dest.parent))
    # scripts/ and tools/ are relative symlinks into kbuild's package; BCC needs neither.
    skip = shutil.ignore_patterns("scripts", "tools")
    try:
        if common is not None:
            shutil.copytree(common, tmp, symlinks=True, dirs_exist_ok=True, ignore=skip)
        shutil.copytree(build, tmp, symlinks=True, dirs_exist_ok=True, ignore=skip)
        os.rename(tmp, dest)
    except FileExistsError:
        shutil.rmtree(tmp, ignore_errors=True)    # another ebcap made it meanwhile
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if not dest.is_dir():
            raise KernelFeatureError(f"cannot prepare kernel headers in {dest.parent}: "
                                     f"{exc.strerror or exc}") from exc


def kernel_headers() -> tuple[Path | None, str]:
    """(tree to hand BCC via BCC_KERNEL_SOURCE or None for BCC's default, description)."""
    release = os.uname().release
    if os.environ.get("BCC_KERNEL_SOURCE"):
        tree = Path(os.environ["BCC_KERNEL_SOURCE"])
        refusal = _writable_by_others(tree)
        if refusal:
            raise KernelFeatureError(f"BCC_KERNEL_SOURCE={tree}: {refusal}: ebcap compiles "
                                     "what is there into a program it loads as root")
        return tree, "BCC_KERNEL_SOURCE"
    modules = Path("/lib/modules") / release
    if (modules / "build").is_dir() or (modules / "source").is_dir():
        return None, f"{modules}/build"
    if Path("/sys/kernel/kheaders.tar.xz").exists():
        return None, "/sys/kernel/kheaders.tar.xz (CONFIG_IKHEADERS)"
    builds = _distribution_build_dirs()
    if not builds:
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
        raise KernelFeatureError(
            f"no kernel headers for BCC: install linux-headers-{release} or, if the distribution "
            f"has none for this kernel, linux-headers-{arch} (apt-get install linux-headers-{arch})")
    build = builds[0]
    dest = cache_root() / "kheaders" / build.name
    if not (dest / "include/generated/autoconf.h").is_file():
        _merge(build, _common_dir(build), dest)
    return dest, f"{dest} (merged from {build})"


def point_bcc_at_headers() -> str:
    """Set BCC_KERNEL_SOURCE for this process when needed; returns what is used."""
    tree, description = kernel_headers()
    if tree is not None:
        os.environ["BCC_KERNEL_SOURCE"] = str(tree)
    return description
