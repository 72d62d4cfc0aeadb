"""A process's peak resident memory, sampled in a thread (benchmarks only)."""
from __future__ import annotations

import threading

import psutil


class PeakRSS:
    """The highest RSS of a process while the block runs (sampled every 20 ms); `take()` returns the peak so far and
    starts a new one (per-item peaks inside one block)."""

    def __init__(self, process: psutil.Process):
        self.process, self.peak, self._stop = process, 0, threading.Event()

    def __enter__(self) -> "PeakRSS":
        def sample() -> None:
            while not self._stop.wait(0.02):
                try:
                    self.peak = max(self.peak, self.process.memory_info().rss)
                except psutil.NoSuchProcess:
                    return

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def take(self) -> int:
        peak, self.peak = self.peak, 0
        return peak

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
