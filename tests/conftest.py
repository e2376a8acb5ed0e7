import os
import tempfile

import pytest



def pytest_configure(config):
    """ebcap's compiled-program cache in a directory of the session's own, so that no run
    depends on (or fills) /var/cache/ebcap; EBCAP_CACHE_DIR set outside keeps its value."""
    if "EBCAP_CACHE_DIR" not in os.environ:
        config._ebcap_cache = tempfile.TemporaryDirectory(prefix="ebcap-test-cache-")
        os.environ["EBCAP_CACHE_DIR"] = config._ebcap_cache.name


def pytest_unconfigure(config):
    cache = getattr(config, "_ebcap_cache", None)
    if cache is not None:
        del os.environ["EBCAP_CACHE_DIR"]
        cache.cleanup()


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: loads BPF programs and makes network namespaces")
    for item in items:
        if "kernel" in item.keywords:
            item.add_marker(skip)
