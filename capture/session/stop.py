"""Stopping on a signal, for the live capture and the extcap alike: SIGINT, SIGTERM and SIGHUP
only set a flag (and run a callback, which the extcap uses to pass the stop on to its child),
so that the capture stops between batches and its file stays whole. With a wake-up pipe
(signal.set_wakeup_fd), an epoll loop sees the signal at once however long its poll timeout."""

from __future__ import annotations

import contextlib
import _signal as signal      # signal.py's wrappers only add enums: ~1 ms of a warm start
import os
from collections.abc import Callable

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    def __init__(self, on_signal: Callable[[], None] | None = None):
        self.raised = False
        self.wakeup_fd = -1
        self._on_signal = on_signal
        self._previous: dict[int, object] = {}
        self._write_fd = -1
        self._previous_wakeup = -1

    def install(self, wakeup: bool = False) -> None:
        """Take over the signals; with `wakeup`, `wakeup_fd` becomes readable on each one."""
        if wakeup:
            self.wakeup_fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self._previous_wakeup = signal.set_wakeup_fd(self._write_fd,
                                                         warn_on_full_buffer=False)
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handler)

    def _handler(self, signum, frame) -> None:
        self.raised = True
        if self._on_signal is not None:
            self._on_signal()

    def clear(self) -> None:
        """Empty the wake-up pipe (the loop's poll reported it)."""
        with contextlib.suppress(BlockingIOError):
            os.read(self.wakeup_fd, 4096)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        if self._write_fd >= 0:
            signal.set_wakeup_fd(self._previous_wakeup)
            os.close(self._write_fd)
            os.close(self.wakeup_fd)
            self._write_fd = self.wakeup_fd = -1
