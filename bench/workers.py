"""Every core: WORKERS=2 against WORKERS=1, /healthz and a cached /total (TOTAL_MAX_AGE), over
50 keep-alive connections in five rounds, each timing both servers in turn over short slices;
and HTTP/2 beside HTTP/1.1 on one worker.

The server may use every core here and the load generator shares one of them with it. The
target is at least 1.5x WORKERS=1's requests per second on both routes with two cores in every
round, the slowest included: with one listening socket shared by the workers, whichever worker
woke first could take all 50 connections for their whole life (about 1.0x in half the runs).
HTTP/2's figures come from h2load (Debian: nghttp2-client), HTTP/1.1's from wrk.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench.load import LoadResult, concurrent, sequential
from tests.processes import service

HEALTHY = b'{"status":"ok"}'
CACHED = {"TOTAL_MAX_AGE": "3600"}
ROUTES = ("/healthz", "/total")
CLIENTS = 50
TARGET = 1.5
# HTTP/2 loads on /healthz: connections, streams at once on each, and requests on each. h2load
# does not connect again after a GOAWAY, so each connection makes fewer requests than
# keep_alive_max_requests: in a timed run, five connections stopped at 1,000 requests each
# (a run of five seconds gave exactly 1,001 req/s, twice).
HTTP2_LOADS = ((50, 1, 100), (5, 10, 900), (1, 50, 900))


def workers(log_dir: Path, smoke: bool) -> list[LoadResult]:
    results = _workers(log_dir, smoke)
    return [*results, *_http2_beside_http11(log_dir, smoke)]


def _workers(log_dir: Path, smoke: bool) -> list[LoadResult]:
    count, rounds, slices, seconds = (1000, 1, 1, 1.0) if smoke else (10_000_001, 5, 8, 2.0)
    env = {"NUMBERS_API_COUNT": str(count), "NUMBERS_API_DELAY": "0.1" if smoke else "1.0", **CACHED}
    expected = b'{"total":%d}' % (count * (count - 1) // 2)
    every_core = set(range(os.cpu_count() or 1))
    runs: dict[tuple[int, str], list[list[LoadResult]]] = {}  # each round's slices
    spread: list[list[int]] = []  # each round's connections per worker, WORKERS=2
    for round_number in range(rounds):
        print(f"  workers: round {round_number + 1}", file=sys.stderr, flush=True)
        # Both servers at once, idle but for the one under load: each route is timed in
        # slices, the two servers in turn, so that the machine's drift over a round (its
        # requests per second moved by a quarter from one 8 s run to the next) falls on both.
        with (
            service({**env, "WORKERS": "1"}, log_dir, cpus=every_core) as single,
            service({**env, "WORKERS": "2"}, log_dir, cpus=every_core) as pair,
        ):
            servers = {1: single, 2: pair}
            for number, server in servers.items():
                for _ in range(2 * number):  # each worker's one fetch, on new connections
                    sequential(server.url + "/total", expected, 1)
                concurrent(server.url + "/healthz", HEALTHY, CLIENTS, 1)  # warm-up
            for route in ROUTES:
                body = HEALTHY if route == "/healthz" else expected
                for number in servers:
                    runs.setdefault((number, route), []).append([])
                for slice_number in range(slices):
                    # Each slice starts with the other server, so that neither always runs first.
                    for number in (2, 1) if (round_number + slice_number) % 2 == 0 else (1, 2):
                        load = concurrent(servers[number].url + route, body, CLIENTS, seconds)
                        runs[number, route][-1].append(load)
        spread.append(_connections_per_worker(pair.stdout()))  # whole once it has stopped

    print(
        f"\n## WORKERS=2 against WORKERS=1: {CLIENTS} keep-alive connections, {rounds} rounds of "
        f"{slices} slices of {seconds:g} s each, the two servers in turn"
    )
    print(f"\n{len(every_core)} cores for the server; wrk on one of them. Requests per second over")
    print("a round's slices. Connections per worker: each WORKERS=2 server's, wrk's runs of 50 and")
    print("the fetches', by its access log.")
    routes = " | ".join(f"{route}, 1 | {route}, 2 | 2 / 1" for route in ("/healthz", "/total (cached)"))
    print(f"\n| round | connections per worker | {routes} |\n|---|---|---:|---:|---:|---:|---:|---:|")
    ratios: dict[str, list[float]] = {route: [] for route in ROUTES}
    for n in range(rounds):
        cells = []
        for route in ROUTES:
            one, two = (_throughput(runs[number, route][n]) for number in (1, 2))
            ratios[route].append(two / one)
            cells.append(f"{one:.0f} | {two:.0f} | {two / one:.2f}")
        print(f"| {n + 1} | {' / '.join(map(str, spread[n]))} | {' | '.join(cells)} |")
    slowest = [min(ratios[route]) for route in ROUTES]
    print(f"| slowest | | | | {slowest[0]:.2f} | | | {slowest[1]:.2f} |")
    for route, ratio in zip(ROUTES, slowest, strict=True):
        verdict = "met" if ratio >= TARGET else "missed"
        print(f"\n{route}: the slowest round's 2 / 1 is {ratio:.2f}, target >= {TARGET} ({verdict}).", end="")
    print()
    return [result for rounds_ in runs.values() for slices_ in rounds_ for result in slices_]


def _throughput(loads: list[LoadResult]) -> float:
    """Requests per second over several runs together."""
    return sum(load.requests for load in loads) / sum(load.duration for load in loads)


def _connections_per_worker(access_log: str) -> list[int]:
    """How many client connections (ports) each worker answered, from text access-log lines
    ("[pid] [INFO] ip:port ..."), fewest first."""
    ports: dict[str, set[str]] = {}
    for line in re.finditer(r"\] \[(\d+)\] \[INFO\] [\d.]+:(\d+) ", access_log):
        ports.setdefault(line[1], set()).add(line[2])
    return sorted(len(connections) for connections in ports.values())


def _http2_beside_http11(log_dir: Path, smoke: bool) -> list[LoadResult]:
    """/healthz on one worker: wrk over HTTP/1.1 connections, h2load over h2c ones."""
    h2load = shutil.which("h2load")
    print("\n## HTTP/2 beside HTTP/1.1: /healthz, WORKERS=1")
    if h2load is None:
        print("\nh2load is not installed (Debian: nghttp2-client): no HTTP/2 figures.")
        return []
    seconds = 1.0 if smoke else 4.0
    every_core = set(range(os.cpu_count() or 1))
    results: list[tuple[str, int, int, LoadResult]] = []
    with service({}, log_dir, cpus=every_core) as server:
        url = server.url + "/healthz"
        concurrent(url, HEALTHY, CLIENTS, 1)  # warm-up
        results.append(("HTTP/1.1 (wrk)", CLIENTS, 1, concurrent(url, HEALTHY, CLIENTS, seconds)))
        for connections, streams, requests in HTTP2_LOADS:
            count = connections * (requests // 10 if smoke else requests)
            results.append(
                ("HTTP/2 (h2load)", connections, streams, _h2load(h2load, url, connections, streams, count))
            )
    one_one = results[0][3].throughput
    print(f"\nwrk for {seconds:g} s; h2load for a number of requests per connection (below")
    print("keep_alive_max_requests); one after the other. Requests per second.")
    print("\n| protocol | connections x streams | req/s | / HTTP/1.1 | errors |\n|---|---|---:|---:|---:|")
    for name, connections, streams, result in results:
        print(
            f"| {name} | {connections} x {streams} | {result.throughput:.0f} | "
            f"{result.throughput / one_one:.2f} | {result.errors} |"
        )
    return [result for *_, result in results]


def _h2load(h2load: str, url: str, connections: int, streams: int, requests: int) -> LoadResult:
    """`requests` over h2c (prior knowledge) with h2load, one thread: its requests, errors, time."""
    command = [h2load, f"--clients={connections}", f"--max-concurrent-streams={streams}", "--threads=1"]
    command += [f"--requests={requests}", url]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300).stdout
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", output)
    counts = re.search(r"(\d+) done, \d+ succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", output)
    if rate is None or counts is None:
        raise RuntimeError(f"h2load's output not understood:\n{output}")
    done, failed, errored, timed_out = map(int, counts.groups())
    duration = done / float(rate.group(1))
    nan = float("nan")  # h2load gives no percentiles
    return LoadResult(done, failed + errored + timed_out, 0, duration, nan, nan, nan, nan)
