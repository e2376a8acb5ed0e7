"""The console script `make setup` writes over pip's (capture/cli/script.py): Python without
site at start-up, site loaded by the first import nothing else finds, with the sys.path pip's
script would have had; and BCC's version for the cache key taken from a record while the
stamps of where it was found hold (capture/kernel/cache.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from ebcap.capture.cli import script
from ebcap.capture.kernel import cache as progcache

# In a fresh `python -S`: the script's set-up, then an import only site's directories have.
_LAZY_SITE = r"""
import sys
sys.path.append(sys.argv[1])
from ebcap.capture.cli import script
script._state["root"] = sys.argv[1]
sys.meta_path.append(script._SiteOnMiss)
import ntpath                               # probes nt and _winapi: not a reason for site
assert "site" not in sys.modules or not sys.flags.no_site, "site loaded for a stdlib probe"
before = "sitecustomize" in sys.modules
import click                                # in the venv's site-packages
print(before, sys.path[1:])
"""


def test_site_loads_on_the_first_miss_and_sys_path_is_pip_scripts():
    root = script._import_root()
    lazy = subprocess.run([sys.executable, "-S", "-c", _LAZY_SITE, root],
                          capture_output=True, text=True, check=True).stdout.split(" ", 1)
    plain = subprocess.run([sys.executable, "-c", "import sys; print(sys.path[1:])"],
                           capture_output=True, text=True, check=True).stdout
    assert lazy[0] == "False"
    assert lazy[1] == plain


def test_written_script_runs_the_tool(tmp_path):
    launcher = tmp_path / "ebcap"
    script.write(str(launcher))
    assert os.access(launcher, os.X_OK)
    first, *rest = launcher.read_text().splitlines()
    assert first == f"#!{sys.executable} -S" and repr(script._import_root()) in "\n".join(rest)
    version = subprocess.run([str(launcher), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("ebcap, version ")
    unknown = subprocess.run([str(launcher), "--no-such-flag"], capture_output=True, text=True)
    pip_like = subprocess.run([sys.executable, "-c", "import sys; sys.argv[0] = 'ebcap'; "
                               "from ebcap.capture.cli.launch import main; sys.exit(main())",
                               "--no-such-flag"], capture_output=True, text=True)
    assert (unknown.returncode, unknown.stderr) == (pip_like.returncode, pip_like.stderr)


def test_bcc_memo_holds_until_a_stamp_changes(monkeypatch, tmp_path):
    monkeypatch.setattr(progcache, "_bcc_found", None)
    version = progcache.bcc_version()
    memo = progcache.bcc_memo()
    assert memo is not None and memo["version"] == version != "unknown"
    assert progcache._checked(memo) == version
    assert progcache._checked({**memo, "where": ["/other/python", ""]}) is None
    *dirs, version_py = memo["stamps"]
    moved = [dirs[0][0], 1, 2]
    assert progcache._checked({**memo, "stamps": [moved, *dirs[1:], version_py]}) is None
    changed = [*version_py[:2], version_py[2] + 1, version_py[3]]
    assert progcache._checked({**memo, "stamps": [*dirs, changed]}) is None
    # a record's memo is used when it holds: no walk of sys.path
    monkeypatch.setattr(progcache, "_bcc_found", None)
    monkeypatch.setattr(progcache, "_find_bcc_version", lambda: (_ for _ in ()).throw(
        AssertionError("walked sys.path")))
    progcache.use_bcc_memo({**memo, "version": "9.9.9"})
    assert progcache.bcc_version() == "9.9.9"
    # and not when it does not
    monkeypatch.setattr(progcache, "_bcc_found", None)
    monkeypatch.setattr(progcache, "_find_bcc_version", lambda: ("1.2.3", None))
    progcache.use_bcc_memo({**memo, "stamps": [*dirs, changed]})
    assert progcache.bcc_version() == "1.2.3" and progcache.bcc_memo() is None
