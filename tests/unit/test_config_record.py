"""CaptureConfig through prefetch's record (marshal's; JSON's too) and back: a start that takes
its config from the record (capture/cli/launch.py) must get exactly what click and
build_config() made."""

from __future__ import annotations

import json
import marshal

import pytest

from ebcap.capture.config import CaptureConfig


def _through_json(config: CaptureConfig) -> CaptureConfig:
    return CaptureConfig.from_record(json.loads(json.dumps(config.to_record())))


def _through_marshal(config: CaptureConfig) -> CaptureConfig:
    return CaptureConfig.from_record(marshal.loads(marshal.dumps(config.to_record())))


@pytest.mark.parametrize("config", [
    CaptureConfig(),
    CaptureConfig(interfaces=("veth-l", "lo"), expression="tcp port 443", write_to="out.pcapng",
                  count=5, snaplen=96, direction="out", promiscuous=False, buffer_kib=512,
                  packet_buffered=True, rotate_size=2_000_000, max_files=3, user="nobody",
                  netns="ns1", debug=True, owners=True, pids=(1, 42), comms=("curl",),
                  cgroup="/system.slice", drop_reasons=("!NO_SOCKET",)),
])
@pytest.mark.parametrize("through", [_through_marshal, _through_json])
def test_config_comes_back_equal(config, through):
    again = through(config)
    assert again == config
    assert type(again.interfaces) is tuple and type(again.pids) is tuple


def test_config_with_print_options_is_not_recorded():
    assert CaptureConfig(print_options=object()).to_record() is None


@pytest.mark.parametrize("change", [{"count": [1]}, {"interfaces": "eth0"},
                                    {"pids": [{"a": 1}]}, {"unknown": 1}])
def test_malformed_record_is_refused(change):
    data = dict(CaptureConfig().to_record(), **change)
    with pytest.raises((KeyError, TypeError, ValueError)):
        CaptureConfig.from_record(data)


def test_record_missing_a_field_is_refused():
    data = CaptureConfig().to_record()
    del data["count"]
    with pytest.raises(KeyError):
        CaptureConfig.from_record(data)
