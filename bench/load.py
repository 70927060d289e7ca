"""Load on a loopback server: wrk for concurrent clients, http.client for one at a time.

wrk (C, HdrHistogram) measures the server, not the load generator: a Python client
handling 500 connections on one core added 50-100 ms to the p99 it reported.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

from tests.probe import percentile

WRK_SCRIPT = Path(__file__).with_name("check_total.lua")


@dataclass
class LoadResult:
    """What one load run saw; latencies in seconds."""

    requests: int
    errors: int
    wrong_totals: int
    duration: float
    p50: float
    p90: float
    p99: float
    max: float
    probe: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.requests / self.duration if self.duration else 0.0


def _path(url: str) -> str:
    """The path and query of `url`, as a request line names them."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def sequential(url: str, expected_body: bytes, requests: int, expected_status: int = 200) -> LoadResult:
    """One client sending `requests` requests one after the other on one connection."""
    parts = urlsplit(url)
    connection = HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    latencies: list[float] = []
    errors = wrong = 0
    started = time.perf_counter()
    try:
        for _ in range(requests):
            sent = time.perf_counter()
            connection.request("GET", _path(url))
            response = connection.getresponse()
            body = response.read()
            latencies.append(time.perf_counter() - sent)
            if response.status != expected_status:
                errors += 1
            elif body.strip() != expected_body:
                wrong += 1
    finally:
        connection.close()
    return LoadResult(
        requests=requests,
        errors=errors,
        wrong_totals=wrong,
        duration=time.perf_counter() - started,
        p50=statistics.median(latencies),
        p90=percentile(latencies, 0.90),
        p99=percentile(latencies, 0.99),
        max=max(latencies),
    )


def bare_transfer(url: str, repeats: int = 3) -> float:
    """The median time to read the whole answer of `url` and throw it away: the transfer's limit."""
    parts = urlsplit(url)
    times = []
    for _ in range(repeats):
        connection = HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
        started = time.perf_counter()
        connection.request("GET", _path(url))
        response = connection.getresponse()
        while response.read(65_536):
            pass
        times.append(time.perf_counter() - started)
        connection.close()
    return statistics.median(times)


def concurrent(
    url: str, expected_body: bytes, clients: int, seconds: float, requests: int | None = None
) -> LoadResult:
    """`clients` connections, each looping on GET `url` for `seconds` (wrk, one thread), or
    until `requests` answers have come."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: `make bench` installs it")
    command = [
        wrk,
        "--threads=1",
        f"--connections={clients}",
        f"--duration={math.ceil(seconds)}s",  # wrk takes whole seconds
        "--timeout=60s",
        f"--script={WRK_SCRIPT}",
        url,
        "--",
        expected_body.decode(),
        *([str(requests)] if requests else []),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 120).stdout
    report = json.loads(output.strip().splitlines()[-1])
    return LoadResult(
        requests=report["requests"],
        errors=report["status_errors"] + report["socket_errors"],
        wrong_totals=report["wrong"],
        duration=report["duration_us"] / 1e6,
        p50=report["p50_us"] / 1e6,
        p90=report["p90_us"] / 1e6,
        p99=report["p99_us"] / 1e6,
        max=report["max_us"] / 1e6,
    )
