"""A probe in a process of its own: GET a cheap path every 10 ms and keep each latency.

Its own process, so that it measures how long the server makes a request wait, not
how long the load generator takes to notice the answer.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from http.client import HTTPConnection
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from types import TracebackType
from urllib.parse import urlsplit

INTERVAL = 0.010


def _probe(url: str, cpus: set[int], ready: Event, stop: Event, results: Connection) -> None:
    os.sched_setaffinity(0, cpus)
    parts = urlsplit(url)
    connection = HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    latencies = []
    next_at = time.monotonic()
    while not stop.is_set():
        sent = time.perf_counter()
        connection.request("GET", parts.path)
        connection.getresponse().read()
        latencies.append(time.perf_counter() - sent)
        ready.set()
        next_at = max(next_at + INTERVAL, time.monotonic())
        stop.wait(next_at - time.monotonic())
    connection.close()
    results.send(latencies)


class Probe:
    """Probes `url` from another process while the `with` block runs; then `latencies`."""

    def __init__(self, url: str, cpus: set[int]) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready = context.Event()
        self._stop = context.Event()
        self._receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_probe, args=(url, cpus, self._ready, self._stop, sender), daemon=True
        )
        self.latencies: list[float] = []

    def __enter__(self) -> Probe:
        self._process.start()
        if not self._ready.wait(30):
            raise RuntimeError("the probe did not get its first answer within 30 s")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._receiver.poll(60):
            self.latencies = self._receiver.recv()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` quantile of `values` by nearest rank; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]
