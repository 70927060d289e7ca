"""What tracing costs: `/healthz` and a cached `/total` (50 clients) with tracing off against the
same code with OpenTelemetry made unimportable, and with tracing on, every trace sampled and a
tenth, exporting to a real collector (rotel, its exporter the black hole, on the load's CPU).

Targets: tracing off within noise of no OpenTelemetry at all (the module is never imported);
tracing on at 10% at least 0.9 of tracing off on both routes. Each round starts every variant
afresh; each figure is the variant's median over the rounds. Spans the batch processor had
to drop (its queue full) are counted from the service's own metric.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.load import LoadResult, concurrent, sequential
from tests.collector import rotel
from tests.processes import ServerProcess

HEALTHY = b'{"status":"ok"}'
CLIENTS = 50
# A cached /total: every measured request reuses the one fetch made before.
CACHED = {"TOTAL_MAX_AGE": "3600"}
# `python -m app` where any import of OpenTelemetry fails: the dependency cannot be loaded.
WITHOUT_OTEL = (
    "import runpy, sys; sys.modules['opentelemetry'] = None; runpy.run_module('app', run_name='__main__')"
)
OFF = "tracing off"
NONE = "no OpenTelemetry"
ALL = "tracing on, 100%"
TENTH = "tracing on, 10%"
RATIO = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}


@dataclass(frozen=True)
class Variant:
    name: str
    argv: list[str]
    env: dict[str, str]


def run_round(
    variant: Variant, env: dict[str, str], expected: bytes, seconds: float, log_dir: Path, cpus: set[int]
) -> tuple[dict[str, LoadResult], float]:
    """Both routes against a fresh process of `variant`; also the spans it dropped."""
    with ServerProcess(variant.argv, {**env, **CACHED, **variant.env}, log_dir, cpus=cpus) as server:
        sequential(server.url + "/total", expected, 1)  # the one fetch
        concurrent(server.url + "/healthz", HEALTHY, CLIENTS, 1)  # warm-up
        results = {
            "/healthz": concurrent(server.url + "/healthz", HEALTHY, CLIENTS, seconds),
            "/total": concurrent(server.url + "/total", expected, CLIENTS, seconds),
        }
        dropped = server.scraped("traces_dropped_spans_total")
    return results, dropped


def tracing_cost(log_dir: Path, smoke: bool, service_cpus: set[int], load_cpus: set[int]) -> list[LoadResult]:
    count, rounds, seconds = (1000, 1, 1.0) if smoke else (10_000_001, 3, 4.0)
    env = {"NUMBERS_API_COUNT": str(count), "NUMBERS_API_DELAY": "0.1" if smoke else "1.0"}
    expected = b'{"total":%d}' % (count * (count - 1) // 2)
    results: dict[str, dict[str, list[LoadResult]]] = {}
    dropped: dict[str, list[float]] = {}
    with rotel(log_dir, cpus=load_cpus) as collector:
        on = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}
        app = [sys.executable, "-m", "app"]
        variants = [
            Variant(OFF, app, {}),
            Variant(NONE, [sys.executable, "-c", WITHOUT_OTEL], {}),
            Variant(ALL, app, on),
            Variant(TENTH, app, {**on, **RATIO}),
        ]
        for _ in range(rounds):
            for variant in variants:
                print(f"  tracing cost: {variant.name}", file=sys.stderr, flush=True)
                found, lost = run_round(variant, env, expected, seconds, log_dir, service_cpus)
                for route, result in found.items():
                    results.setdefault(variant.name, {}).setdefault(route, []).append(result)
                dropped.setdefault(variant.name, []).append(lost)

    def rate(name: str, route: str) -> float:
        return float(statistics.median(result.throughput for result in results[name][route]))

    print(
        f"\n## What tracing costs: medians of {rounds} interleaved rounds of {seconds:g} s, {CLIENTS} clients"
    )
    print(
        f"\n'{NONE}': this code with every import of OpenTelemetry failing, tracing off."
        f" '{ALL}' and '{TENTH}': spans exported to rotel on CPU 1 (parentbased samplers; wrk sends"
        " no traceparent, so every request is a root). Targets: off / none within noise;"
        " 10% / off >= 0.9."
    )
    print(
        f"\n| route | {OFF} req/s | {NONE} req/s | off / none | {ALL} req/s | 100% / off"
        f" | {TENTH} req/s | 10% / off | target |\n|---|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    for route in ("/healthz", "/total"):
        off, none, every, tenth = (rate(name, route) for name in (OFF, NONE, ALL, TENTH))
        verdict = "met" if tenth / off >= 0.9 else "missed"
        print(
            f"| {route} | {off:.1f} | {none:.1f} | {off / none:.3f} | {every:.1f} | {every / off:.3f}"
            f" | {tenth:.1f} | {tenth / off:.3f} | 10% >= 0.9 ({verdict}) |"
        )
    spans = ", ".join(f"{name}: {max(dropped[name]):.0f}" for name in (ALL, TENTH))
    print(f"\nSpans dropped by the batch processor, the most in a round: {spans}.")
    return [result for by_route in results.values() for runs in by_route.values() for result in runs]
