"""fixtures/hostile/make_hostile.py, loaded by path (the fixtures are scripts, not a package)."""

from __future__ import annotations

import importlib.util
from functools import cache

from tests.helpers.paths import FIXTURES


@cache
def hostile_script():
    path = FIXTURES / "hostile" / "make_hostile.py"
    spec = importlib.util.spec_from_file_location("make_hostile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
