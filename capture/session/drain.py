"""The live loop: drain every ring into the sinks, flush once a second (or per packet with -U),
attach interfaces that appear under -i any (when the kernel says so, capture/net/interfaces.py's
LinkWatcher), and stop on -c, a signal, or the reader going away."""

from __future__ import annotations

import sys
import time
from array import array
from functools import partial

from ebcap.capture.config import CaptureConfig
from ebcap.capture.pcapng.format import epb_interface_id
from ebcap.capture.pcapng.rotation import CaptureComplete
from ebcap.capture.session.stop import StopSignals

# The kernel wakes the reader only when its ring is 1/4 full (bpf/ebcap.c); otherwise records
# wait for the poll timeout, which bounds the latency of a trickle of packets. Printed packets
# (and -U) get a short one. A file is drained and written once a second, when it is flushed,
# like tcpdump -w's blocks, which libpcap hands over when full or after its 1 s timeout. Every
# timed wake-up costs: ~0.1 ms of CPU idle on this VM (an epoll_wait loop alone: 22 ms in 4 s
# at 20 ms), and under load more, as the softirq work that interrupts the reader is charged to
# it. Measured in the bench's 1% scenarios (3 s of traffic, 8k packets written): 12 wake-ups
# and 2.7 ms of CPU with a 0.25 s poll, 3 and 1.3 ms at once a second; tcpdump: 5-6 and 1.8 ms.
# A ring's own wake-up (at the mark) flushes as well and starts the second again, so a stream
# that reaches the mark within a second wakes the reader at the mark only: the timed wake-up
# that it saves cost 0.25-0.4 ms of CPU under the bench's TCP stream (the reader's caches cold
# after it slept: the empty drain 50-80 us, the wall clock 100-250, epoll_wait 45-90).
POLL_SECONDS = 0.02
# The kernel stages blocks per CPU and hands them over within 2 ms (bpf/ebcap.c's
# EBCAP_STAGE_NS, its flush timer): the last drain waits that long, and a little, first.
STAGED_SECONDS = 0.003
FLUSH_SECONDS = 1.0         # the file is complete up to its last block at least this often
EARLY = 0.005               # a timed poll may end this much before its deadline


class Drainer:
    def __init__(self, config: CaptureConfig, session, stop: StopSignals):
        self.config = config
        self.session = session
        self.sinks = session.sinks
        self.stop = stop
        self.delivered = session.delivered          # interface id -> blocks delivered
        self.counts = array("Q")                    # the same, as the C ring walk counts them

    def drain_all(self, limit: int) -> int:
        """Move what the rings hold into the sinks, at most `limit` blocks (0: no limit)."""
        sinks, delivered = self.sinks, self.delivered
        single = len(self.session.interfaces) == 1
        # Into one plain file: the blocks go from the ring into the writer's buffer untouched,
        # never looked at one by one in Python; with several interfaces (-i any) the C walk
        # counts each one's blocks for its ISB (looking at them here cost -i any ~0.5 us a
        # packet: benchmarks/any_cost.py).
        straight = sinks.plain_file
        counts = None
        if straight and not single:
            counts = self.counts
            if len(counts) < len(self.session.interfaces):
                counts.extend([0] * (len(self.session.interfaces) - len(counts)))
        got = 0
        for ring in self.session.rings:
            left = limit - got if limit else 0
            if counts is not None:
                n = sinks.writer.fill_through(partial(ring.drain_write, counts=counts), left)
                if n:
                    delivered.update((iid, c) for iid, c in enumerate(counts) if c)
            elif straight:
                n = sinks.writer.fill_through(ring.drain_write, left)
                delivered[0] = delivered.get(0, 0) + n
            else:
                batch: list[bytes] = []
                n = ring.drain_blocks(batch, left)
                if n:
                    sinks.blocks(batch)
                    if single:
                        delivered[0] = delivered.get(0, 0) + n
                    else:
                        for block in batch:
                            iid = epb_interface_id(block)
                            delivered[iid] = delivered.get(iid, 0) + 1
            got += n
            if limit and got >= limit:
                break
        return got

    def run(self) -> int:
        """Until stopped; returns how many packets were written."""
        config, session, sinks, stop = self.config, self.session, self.sinks, self.stop
        written = 0
        last_flush = last_report = last_clock = time.monotonic()
        watcher = session.link_watcher
        show_progress = sinks.writes_file and sys.stderr.isatty()
        short_poll = sinks.printer or config.packet_buffered
        left = lambda: config.count - written if config.count else 0  # noqa: E731
        ring_woke = False
        try:
            while not stop.raised:
                got = self.drain_all(left())
                written += got
                if config.count and written >= config.count:
                    break
                now = time.monotonic()
                if (config.packet_buffered and got or ring_woke
                        or now >= last_flush + FLUSH_SECONDS - EARLY):
                    sinks.flush()
                    last_flush = now
                    # the wall-clock check once a second, as without -U: -U flushes after
                    # every drain that got packets, and the check (~30 us after a wake) is
                    # not needed more often than a second flush would make it
                    if now >= last_clock + FLUSH_SECONDS - EARLY:
                        session.refresh_clock()
                        last_clock = now
                if show_progress and now - last_report >= 1.0:
                    print(f"\rGot {written}", end="", file=sys.stderr, flush=True)
                    last_report = now
                timeout = POLL_SECONDS if short_poll else last_flush + FLUSH_SECONDS - now
                ring_woke = False
                for fd, _events in session.epoll.poll(max(timeout, 0.0)):
                    if fd == stop.wakeup_fd:
                        stop.clear()
                    elif watcher is not None and fd == watcher.fileno():
                        watcher.drain()         # -i any: an interface appeared or changed
                        session.add_new_interfaces()
                    else:
                        ring_woke = True        # a ring passed the kernel's wake-up mark
            if not (config.count and written >= config.count):
                time.sleep(STAGED_SECONDS)
                written += self.drain_all(left())
        except CaptureComplete:
            written = sum(self.delivered.values())
        except BrokenPipeError:
            # the reader of -w - or of the printed lines went away: stop like an interrupt
            written = sum(self.delivered.values())
            sinks.reader_gone()
        if show_progress:
            print(f"\rGot {written}", file=sys.stderr, flush=True)
        return written
