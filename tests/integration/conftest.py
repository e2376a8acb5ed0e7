"""Real captures in network namespaces made (and removed) by each test."""

from __future__ import annotations

import pytest

from ebcap.capture.bench.testbed import Testbed


@pytest.fixture
def testbed():
    with Testbed("it") as tb:
        yield tb
