"""The request path's own work: requests per second on /healthz and on a cached /total
(TOTAL_MAX_AGE) against the stack's floor, the same routes bare on the same packages
(bench/bare_route.py), and uvloop against asyncio's own loop, in one run, interleaved.

Each round starts every variant afresh and measures it; each figure is the variant's median
over the rounds. Target: at least 0.8 of the bare route's requests per second on both routes
(telemetry on, as by default), that is the service's own work at most a fifth of a request's
CPU. uvloop would be adopted only if it won on throughput and on the 500-client p99.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import LoadResult, concurrent, sequential
from tests.processes import ServerProcess

# The service's own work is at most a fifth of a request's CPU when it keeps this share of
# the bare route's requests per second.
TARGET = 0.8
BARE = "bare route"
HEALTHY = b'{"status":"ok"}'
# A cached /total: every measured request reuses the one fetch made before.
CACHED = {"TOTAL_MAX_AGE": "3600"}
# The most that trimming the service's own telemetry could give: none of it at all.
NO_TELEMETRY = "this code, telemetry off"
TELEMETRY_OFF = {"METRICS": "off", "ACCESS_LOG": "off"}
# `python -m app` with uvloop's event loop policy installed first.
UVLOOP = "import runpy, uvloop; uvloop.install(); runpy.run_module('app', run_name='__main__')"


@dataclass(frozen=True)
class Variant:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Measure:
    path: str
    clients: int

    @property
    def name(self) -> str:
        return f"{self.path}, {self.clients} clients"


def run_round(
    variant: Variant,
    measures: list[Measure],
    env: dict[str, str],
    expected: bytes,
    seconds: float,
    log_dir: Path,
    service_cpus: set[int],
) -> dict[Measure, LoadResult]:
    with ServerProcess(variant.argv, {**env, **CACHED, **variant.env}, log_dir, cpus=service_cpus) as server:
        sequential(server.url + "/total", expected, 1)  # the one fetch
        concurrent(server.url + "/healthz", HEALTHY, 50, 1)  # warm-up
        return {
            measure: concurrent(
                server.url + measure.path,
                HEALTHY if measure.path == "/healthz" else expected,
                measure.clients,
                seconds,
            )
            for measure in measures
        }


def request_cost(log_dir: Path, smoke: bool, service_cpus: set[int]) -> list[LoadResult]:
    count, rounds, seconds = (1000, 1, 1.0) if smoke else (10_000_001, 3, 5.0)
    env = {"NUMBERS_API_COUNT": str(count), "NUMBERS_API_DELAY": "0.1" if smoke else "1.0"}
    expected = b'{"total":%d}' % (count * (count - 1) // 2)
    route_measures = [Measure("/healthz", 50), Measure("/total", 50)]
    loop_measures = [*route_measures, Measure("/total", 500)]
    results: dict[str, dict[Measure, list[LoadResult]]] = {}
    variants = [
        (Variant("this code", [sys.executable, "-m", "app"]), loop_measures),
        (Variant(BARE, [sys.executable, "-m", "bench.bare_route"]), route_measures),
        (Variant(NO_TELEMETRY, [sys.executable, "-m", "app"], TELEMETRY_OFF), route_measures),
        (Variant("this code, uvloop", [sys.executable, "-c", UVLOOP]), loop_measures),
    ]
    for _ in range(rounds):
        for variant, measures in variants:
            print(f"  request cost: {variant.name}", file=sys.stderr, flush=True)
            found = run_round(variant, measures, env, expected, seconds, log_dir, service_cpus)
            for measure, result in found.items():
                results.setdefault(variant.name, {}).setdefault(measure, []).append(result)

    def median(name: str, measure: Measure, metric: str) -> float:
        return float(statistics.median(getattr(result, metric) for result in results[name][measure]))

    print(f"\n## The request path's own work: medians of {rounds} interleaved rounds of {seconds:g} s")
    print(
        "\n'bare route': the same route answering bytes made at start-up, on Quart and Hypercorn from the"
        f" same packages (bench/bare_route.py), in the same run. Target: this code / bare >= {TARGET} on each"
        " route."
    )
    print(
        "\n'telemetry off': this code with METRICS and ACCESS_LOG off, the most that trimming the"
        " service's own telemetry could give."
    )
    print(
        "\n| measure | this code req/s | bare route req/s | this / bare | target"
        " | telemetry off req/s | telemetry off / bare |\n|---|---:|---:|---:|---|---:|---:|"
    )
    for measure in route_measures:
        ours, floor = median("this code", measure, "throughput"), median(BARE, measure, "throughput")
        trimmed = median(NO_TELEMETRY, measure, "throughput")
        verdict = "met" if ours / floor >= TARGET else "missed"
        print(
            f"| {measure.name} | {ours:.1f} | {floor:.1f} | {ours / floor:.2f} | >= {TARGET} ({verdict})"
            f" | {trimmed:.1f} | {trimmed / floor:.2f} |"
        )
    print("\n### uvloop against asyncio's own loop (this code)")
    print("\n| measure | asyncio req/s | uvloop req/s | uvloop / asyncio | asyncio p99 | uvloop p99 |")
    print("|---|---:|---:|---:|---:|---:|")
    for measure in loop_measures:
        plain, uv = "this code", "this code, uvloop"
        asyncio_rate, uvloop_rate = median(plain, measure, "throughput"), median(uv, measure, "throughput")
        asyncio_p99, uvloop_p99 = median(plain, measure, "p99"), median(uv, measure, "p99")
        print(
            f"| {measure.name} | {asyncio_rate:.1f} | {uvloop_rate:.1f} | {uvloop_rate / asyncio_rate:.2f}"
            f" | {asyncio_p99 * 1000:.1f} ms | {uvloop_p99 * 1000:.1f} ms |"
        )
    return [result for by_measure in results.values() for runs in by_measure.values() for result in runs]
