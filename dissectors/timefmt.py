"""Timestamps in tcpdump's five -t styles (util-print.c ts_print)."""

from __future__ import annotations

import time

from ebcap.dissectors.options import PrintOptions, TimestampMode

_ERROR = "[Error converting time]"


class TimestampFormatter:
    """Formats one packet's timestamp, with the trailing space; keeps the -ttt/-ttttt reference."""

    def __init__(self, options: PrintOptions) -> None:
        self._mode = options.timestamp_mode
        # tcpdump works in its capture precision; deltas are taken after truncating to it.
        self._unit = 1 if options.nano else 1000
        self._per_sec = 1_000_000_000 // self._unit
        self._frac = ".%09u" if options.nano else ".%06u"
        self._ref: int | None = None
        self._cached_sec = -1
        self._cached_text = ""

    def fast(self):
        """A function equal to this formatter: for the default style (local time of day) a
        closure with its per-second cache in locals, ~2x faster per line; else the formatter."""
        if self._mode != TimestampMode.DEFAULT:
            return self
        unit, per_sec, frac_format = self._unit, self._per_sec, "%s" + self._frac + " "
        cached = [-1, ""]
        strftime, localtime = time.strftime, time.localtime

        def default(ts_ns: int) -> str:
            sec, frac = divmod(ts_ns // unit, per_sec)
            if sec != cached[0]:
                if sec & 0x80000000 or sec < 0:
                    return _ERROR + " "
                cached[0], cached[1] = sec, strftime("%H:%M:%S", localtime(sec))
            return frac_format % (cached[1], frac)
        return default

    def __call__(self, ts_ns: int) -> str:
        mode = self._mode
        if mode == TimestampMode.NONE:
            return ""
        ticks = ts_ns // self._unit
        sec, frac = divmod(ticks, self._per_sec)
        if mode == TimestampMode.EPOCH:
            if sec & 0x80000000 or sec < 0:
                return _ERROR + " "
            return "%u%s " % (sec, self._frac % frac)
        if mode in (TimestampMode.DEFAULT, TimestampMode.DATE):
            if sec & 0x80000000 or sec < 0:
                return _ERROR + " "
            if sec != self._cached_sec:
                fmt = "%H:%M:%S" if mode == TimestampMode.DEFAULT else "%Y-%m-%d %H:%M:%S"
                self._cached_text = time.strftime(fmt, time.localtime(sec))
                self._cached_sec = sec
            return "%s%s " % (self._cached_text, self._frac % frac)
        # DELTA and DELTA_FIRST
        if self._ref is None:
            self._ref = ticks
        delta = ticks - self._ref
        sign = " "
        if delta < 0:
            sign, delta = "-", -delta
        if mode == TimestampMode.DELTA:
            self._ref = ticks
        dsec, dfrac = divmod(delta, self._per_sec)
        if dsec & 0x80000000:
            return sign + _ERROR + " "
        return "%s%s%s " % (sign, time.strftime("%H:%M:%S", time.gmtime(dsec)), self._frac % dfrac)
