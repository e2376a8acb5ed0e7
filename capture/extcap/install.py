"""`ebcap extcap --install`: the wrapper Wireshark runs, in its personal or global extcap folder."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from ebcap.capture.errors import EbcapError, OutputError

WRAPPER_NAME = "ebcap"              # the executable --install puts into Wireshark's extcap folder


def wireshark_folders(tshark: str = "tshark") -> dict[str, str]:
    """`tshark -G folders` as {label: path} (the first line of each label)."""
    try:
        out = subprocess.run([tshark, "-G", "folders"], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise EbcapError(f"cannot ask Wireshark for its folders ({tshark} -G folders: {exc}); "
                         "install tshark or pass --dir") from None
    return parse_folders(out)


def parse_folders(text: str) -> dict[str, str]:
    folders: dict[str, str] = {}
    for line in text.splitlines():
        label, sep, path = line.partition(":")
        if sep and path.strip():
            folders.setdefault(label.strip(), path.strip())
    return folders


def extcap_folder(folders: dict[str, str], system: bool) -> Path:
    """Wireshark 4.2 and later name both folders; 4.0 shows only the global one as "Extcap
    path" and looks for personal extcaps in "<personal configuration>/extcap"."""
    if system:
        path = folders.get("Global Extcap path") or folders.get("Extcap path")
    elif "Personal Extcap path" in folders:
        path = folders["Personal Extcap path"]
    else:
        base = folders.get("Personal configuration")
        path = str(Path(base) / "extcap") if base else None
    if not path:
        raise EbcapError("Wireshark did not name its extcap folder; pass --dir")
    return Path(path)


def wrapper_text(ebcap: Path) -> str:
    """The wrapper runs the installed console script: its interpreter is started the way the
    script's own shebang says, with the script's folder first on the import path, never the
    folder Wireshark happens to run in."""
    return ("#!/bin/sh\n"
            "# Wireshark extcap for ebcap, written by `ebcap extcap --install`.\n"
            f"exec {shlex.quote(str(ebcap))} extcap \"$@\"\n")


def install(folder: Path, ebcap: Path | None = None) -> Path:
    """Write the wrapper (mode 0755) and return its path. The new text goes into a temporary
    file made with O_EXCL and a random name in the folder itself (mkstemp), then replaces the
    wrapper by rename: nothing planted in the folder beforehand is followed or written through."""
    from ebcap.capture.extcap.supervise import ebcap_path
    text = wrapper_text(ebcap or ebcap_path())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / WRAPPER_NAME
        fd, temporary = tempfile.mkstemp(prefix=f".{WRAPPER_NAME}.", dir=folder)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
                os.fchmod(handle.fileno(), 0o755)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as exc:
        raise OutputError(f"{folder}: {exc.strerror or exc}") from None
    return target


def uninstall(folder: Path) -> Path:
    target = folder / WRAPPER_NAME
    try:
        target.unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(f"{target}: {exc.strerror or exc}") from None
    return target
