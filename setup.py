"""Only the C extension; everything else about the distribution is in pyproject.toml.

capture._ringdrain is optional: where it cannot be built (no compiler, no Python headers:
Debian's python3-dev), the install still succeeds and capture/ring.py uses its Python loop.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("capture._ringdrain", ["capture/_ringdrain.c"], optional=True)])
