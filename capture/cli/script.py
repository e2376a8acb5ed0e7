"""The console script `make setup` writes over pip's: Python started without site (`-S`),
site loaded the first time an import needs it.

pip writes console scripts without interpreter flags, so site runs before ebcap's first line:
the .pth files of every site directory (on this VM a sandbox's CA hooks, setuptools'
distutils-precedence) and Debian's sitecustomize (apport's hook): ~8 ms of a warm start, whose
imports are the standard library's and ebcap's own. So the script below starts Python with
`-S`, puts ebcap's own directory on sys.path itself, and leaves a finder at the end of
sys.meta_path: an import that nothing on the path finds (click, scapy, pyroute2 in the venv,
Debian's BCC through --system-site-packages) runs site.main() then, as site would have at
start-up, and is looked up again. A start that needs only the standard library and ebcap never
runs site; any other gets the same sys.path as with pip's script, only later.

    python -I -m ebcap.capture.cli.script PATH     write the script to PATH (make setup)

`pip install -e .` still writes its own script (it works as before, with site at start-up);
`make setup` writes this one after it.
"""

from __future__ import annotations

import os
import sys

_SCRIPT = """\
#!{python} -S
# ebcap's console script, written by `make setup` (capture/cli/script.py) instead of pip's:
# Python without site at start-up (~8 ms of a warm start); site loads on the first import that
# needs it.
import sys
sys.path.append({root!r})
from ebcap.capture.cli.script import run
sys.exit(run({root!r}))
"""


class _SiteOnMiss:
    """The last finder on sys.meta_path: an import nothing found runs site, then is retried."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in sys.stdlib_module_names:
            # the standard library's probes of what this platform lacks (pathlib's ntpath
            # tries nt and _winapi): site's directories come after the standard library's,
            # so they would not provide them either
            return None
        enable_site()
        from importlib.machinery import PathFinder
        return PathFinder.find_spec(name, path, target)


def enable_site() -> None:
    """What `python` without -S would have done at start-up (idempotent)."""
    if _SiteOnMiss not in sys.meta_path:
        return
    sys.meta_path.remove(_SiteOnMiss)
    root = _state["root"]
    if root in sys.path:            # the editable install's .pth puts it where pip's would be
        sys.path.remove(root)
    import site
    site.main()
    if root not in sys.path:
        sys.path.append(root)


_state = {"root": None}


def run(root: str):
    """The console script's body: ebcap's main() with site loaded only if an import needs it."""
    _state["root"] = root
    sys.meta_path.append(_SiteOnMiss)
    # pip's script strips these with re, whose import would come before the prefetch's links
    # and verifier begin (capture/kernel/prefetch.py; tests/integration/test_startup.py)
    for suffix in ("-script.pyw", ".exe"):
        if sys.argv[0].endswith(suffix):
            sys.argv[0] = sys.argv[0][:-len(suffix)]
            break
    from ebcap.capture.cli.launch import main
    return main()


def write(path: str) -> None:
    """Write the console script to `path` for this interpreter and this checkout (whole: a
    temp file, then rename, as the script may be running)."""
    text = _SCRIPT.format(python=sys.executable, root=_import_root())
    temp = f"{path}.tmp-{os.getpid()}"
    with open(temp, "w") as script:
        script.write(text)
    os.chmod(temp, 0o755)
    os.replace(temp, path)


def _import_root() -> str:
    """The sys.path entry ebcap is imported from (the editable install's src/)."""
    import ebcap
    for entry in sys.path:
        if entry and any(os.path.realpath(os.path.join(entry, "ebcap")) ==
                         os.path.realpath(folder) for folder in ebcap.__path__):
            return entry
    raise SystemExit("ebcap is not imported from a sys.path entry")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -I -m ebcap.capture.cli.script PATH")
    write(sys.argv[1])
