"""Only the C extension; everything else about the distribution is in pyproject.toml.

ebcap.capture.kernel._ringdrain is optional: where it cannot be built (no compiler, no Python
headers: Debian's python3-dev), the install still succeeds and capture/kernel/ring.py uses its
Python loop.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("ebcap.capture.kernel._ringdrain", ["capture/kernel/_ringdrain.c"],
                             optional=True)])
