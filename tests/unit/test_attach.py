"""capture/session/attach.py's choices: -i any by packet socket or at TC, and the directions
the socket filter takes (as hooks() attaches them)."""

from __future__ import annotations

import pytest

from ebcap.capture.config import CaptureConfig
from ebcap.capture.session.attach import by_socket, hooks, socket_directions

IN, OUT = 1, 2
BITS = {"ebcap_ingress": IN, "ebcap_egress": OUT}


@pytest.mark.parametrize("interfaces,owners,env,expected", [
    (("any",), False, None, True),
    (("any",), True, None, False),          # --owners' socket lookups need the TC context
    (("any",), False, "tc", False),
    (("eth0",), False, None, False),
    (("eth0", "any"), False, None, True),
])
def test_by_socket(monkeypatch, interfaces, owners, env, expected):
    if env is None:
        monkeypatch.delenv("EBCAP_ANY", raising=False)
    else:
        monkeypatch.setenv("EBCAP_ANY", env)
    assert by_socket(CaptureConfig(interfaces=interfaces, owners=owners)) is expected


@pytest.mark.parametrize("direction", ["in", "out", "inout"])
def test_socket_directions_are_the_hooks_tc_would_attach(direction):
    ordinary, loopback = socket_directions(direction)
    for wanted, is_loopback in ((ordinary, False), (loopback, True)):
        attached = sum(BITS[program] for program, _kind in hooks(direction, is_loopback))
        assert wanted == attached, (direction, is_loopback)
