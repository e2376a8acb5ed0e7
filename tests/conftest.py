import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
EBCAP = Path(sys.executable).parent / "ebcap"


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: loads BPF programs and makes network namespaces")
    for item in items:
        if "kernel" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def ebcap_bin() -> Path:
    return EBCAP
