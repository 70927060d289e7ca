"""Every core: WORKERS=2 against WORKERS=1, /healthz and a cached /total (TOTAL_MAX_AGE),
in interleaved rounds.

The server may use every core here and wrk shares one of them with it. Target: WORKERS=2's
slowest round at least 1.5x WORKERS=1's median requests per second, on both routes with two
cores. The slowest round, not the median: a user gets whichever spread of connections over
the workers the kernel makes, and a median hides the rounds where they split unevenly.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

from bench.load import LoadResult, concurrent, sequential
from tests.processes import service

HEALTHY = b'{"status":"ok"}'
CACHED = {"TOTAL_MAX_AGE": "3600"}
ROUTES = ("/healthz", "/total")
CLIENTS = 50
TARGET = 1.5


def workers(log_dir: Path, smoke: bool) -> list[LoadResult]:
    count, rounds, seconds = (1000, 1, 1.0) if smoke else (10_000_001, 3, 5.0)
    env = {"NUMBERS_API_COUNT": str(count), "NUMBERS_API_DELAY": "0.1" if smoke else "1.0", **CACHED}
    expected = b'{"total":%d}' % (count * (count - 1) // 2)
    every_core = set(range(os.cpu_count() or 1))
    results: dict[tuple[int, str], list[LoadResult]] = {}
    for _ in range(rounds):
        for number in (2, 1):
            print(f"  workers: WORKERS={number}", file=sys.stderr, flush=True)
            with service({**env, "WORKERS": str(number)}, log_dir, cpus=every_core) as server:
                for _ in range(2 * number):  # each worker's one fetch, on new connections
                    sequential(server.url + "/total", expected, 1)
                concurrent(server.url + "/healthz", HEALTHY, CLIENTS, 1)  # warm-up
                for route in ROUTES:
                    body = HEALTHY if route == "/healthz" else expected
                    result = concurrent(server.url + route, body, CLIENTS, seconds)
                    results.setdefault((number, route), []).append(result)

    def rates(number: int, route: str) -> list[float]:
        return [result.throughput for result in results[number, route]]

    title = f"WORKERS=2 against WORKERS=1: {CLIENTS} clients, {rounds} interleaved rounds of {seconds:g} s"
    print(f"\n## {title}")
    print(
        f"\n{len(every_core)} cores for the server; wrk on one of them. Target: WORKERS=2's slowest round"
        f" / WORKERS=1's median >= {TARGET}."
    )
    print(
        "\n| route | WORKERS=1 req/s, median | WORKERS=2 req/s, each round | WORKERS=2 slowest / WORKERS=1"
        " | target |\n|---|---:|---:|---:|---|"
    )
    for route in ROUTES:
        one, two = statistics.median(rates(1, route)), rates(2, route)
        ratio = min(two) / one
        verdict = "met" if ratio >= TARGET else "missed"
        name = "/total (cached)" if route == "/total" else route
        each = ", ".join(f"{rate:.1f}" for rate in two)
        print(f"| {name} | {one:.1f} | {each} | {ratio:.2f} | >= {TARGET} ({verdict}) |")
    return [result for runs in results.values() for result in runs]
