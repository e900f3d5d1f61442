"""Ctrl-C without lost work: the training loop polls a flag instead of dying mid-step."""

from __future__ import annotations

import contextlib
import signal
import sys


class StopFlag:
    """SIGINT or SIGTERM sets `.set`; the loop finishes its step, writes a checkpoint and exits
    cleanly. A second Ctrl-C stops at once (KeyboardInterrupt)."""

    def __init__(self):
        self.set = False
        self.previous = {}
        with contextlib.suppress(ValueError):  # handlers can be set in the main thread only
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self.handle)

    def handle(self, signum, frame) -> None:
        if self.set:
            raise KeyboardInterrupt
        self.set = True
        print("\ninterrupted: finishing this step and writing a checkpoint", file=sys.stderr)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
