"""Peak resident memory of a process and everything it started, read from /proc."""

from __future__ import annotations

import threading
from pathlib import Path


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            pids.extend(_tree(int(child)))
    return pids


def _high_water_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class PeakRss:
    """Samples the tree's summed per-process peak RSS (VmHWM) until stopped."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> None:
        try:
            total = sum(_high_water_kib(pid) for pid in _tree(self.pid))
        except (FileNotFoundError, ProcessLookupError):
            return  # a process of the tree exited between two reads
        self.peak_kib = max(self.peak_kib, total)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            self.sample()

    def stop(self) -> float:
        """Stop sampling; the peak in MiB."""
        self.sample()
        self._stopped.set()
        self._thread.join()
        return self.peak_kib / 1024
