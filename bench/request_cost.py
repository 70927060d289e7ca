"""The request path's own work: requests per second on /healthz and on a cached /total
(TOTAL_MAX_AGE) against the code before the path was made lean, and uvloop against
asyncio's own loop, in one run, interleaved.

Each round starts every variant afresh and measures it; each figure is the variant's median
over the rounds. Targets: at least 1.2x the earlier code's requests per second on both
routes (telemetry on, as by default). uvloop would be adopted only if it won on throughput
and on the 500-client p99.
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import LoadResult, concurrent, sequential
from tests.processes import PROJECT, ServerProcess

# The last commit whose request path ran quart-schema's pydantic conversion on every
# response and serialised its constant answers per request.
BEFORE = "0291cc1"
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
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Measure:
    path: str
    clients: int

    @property
    def name(self) -> str:
        return f"{self.path}, {self.clients} clients"


@contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """The app/ of commit `ref`, alone in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="bench-before-") as directory:
        archive = subprocess.run(["git", "archive", ref, "app"], cwd=PROJECT, capture_output=True, check=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(directory, filter="data")
        yield Path(directory)


def run_round(
    variant: Variant,
    measures: list[Measure],
    env: dict[str, str],
    expected: bytes,
    seconds: float,
    log_dir: Path,
    service_cpus: set[int],
) -> dict[Measure, LoadResult]:
    with ServerProcess(
        variant.argv, {**env, **CACHED, **variant.env}, log_dir, cpus=service_cpus, cwd=variant.cwd
    ) as server:
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
    with checkout(BEFORE) as before:
        variants = [
            (Variant("this code", [sys.executable, "-m", "app"], PROJECT), loop_measures),
            (Variant("before", [sys.executable, "-m", "app"], before), route_measures),
            (Variant(NO_TELEMETRY, [sys.executable, "-m", "app"], PROJECT, TELEMETRY_OFF), route_measures),
            (Variant("this code, uvloop", [sys.executable, "-c", UVLOOP], PROJECT), loop_measures),
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
        f"\n'before': the code at {BEFORE}, in the same run. Target: this code / before >= 1.2 on each route."
    )
    print(
        "\n'telemetry off': this code with METRICS and ACCESS_LOG off, the most that trimming the"
        " service's own telemetry could give."
    )
    print(
        "\n| measure | this code req/s | before req/s | this / before | target"
        " | telemetry off req/s | telemetry off / before |\n|---|---:|---:|---:|---|---:|---:|"
    )
    for measure in route_measures:
        ours, theirs = median("this code", measure, "throughput"), median("before", measure, "throughput")
        bare = median(NO_TELEMETRY, measure, "throughput")
        verdict = "met" if ours / theirs >= 1.2 else "missed"
        print(
            f"| {measure.name} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} | >= 1.2 ({verdict})"
            f" | {bare:.1f} | {bare / theirs:.2f} |"
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
