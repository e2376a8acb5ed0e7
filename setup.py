"""Only the C extensions; everything else about the distribution is in pyproject.toml.

Both are optional: where they cannot be built (no compiler, no Python headers: Debian's
python3-dev), the install still succeeds and the Python loops stay:
- ebcap.capture.kernel._ringdrain: capture/kernel/ring.py's drain loop;
- ebcap.capture.kernel._testrun: the per-packet loop of `ebcap -r` over pcap files
  (capture/session/offline_fast.py).
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("ebcap.capture.kernel._ringdrain", ["capture/kernel/_ringdrain.c"], optional=True),
    Extension("ebcap.capture.kernel._testrun", ["capture/kernel/_testrun.c"], optional=True),
])
