"""What telemetry costs: the same build with it on (the default) and off (METRICS=off and
ACCESS_LOG=off, as an operator who scrapes nothing may run it), side by side.

Targets: telemetry costs at most 5% of the 500-client /total throughput and at most 10% of
/healthz requests per second (50 clients), and keeps the 50-client probe p99 within 2 ms.
The two builds take turns over a few rounds and each figure is a median: a shared machine's
speed drifts over a minute by more than the costs measured.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from bench.load import LoadResult, concurrent
from tests.probe import Probe, percentile
from tests.processes import service

HEALTHY = b'{"status":"ok"}'
OFF = {"METRICS": "off", "ACCESS_LOG": "off"}
ROUNDS = 3


@dataclass(frozen=True)
class Variant:
    """One server's results: /total under many clients, /healthz and /total (with the probe)
    under some."""

    total_many: LoadResult
    healthz_some: LoadResult
    total_some: LoadResult

    @property
    def probe_p99(self) -> float:
        return percentile(self.total_some.probe, 0.99)

    @property
    def total_rate(self) -> float:
        return self.total_many.throughput

    @property
    def healthz_rate(self) -> float:
        return self.healthz_some.throughput

    @property
    def results(self) -> list[LoadResult]:
        return [self.total_many, self.healthz_some, self.total_some]


def measure_variant(
    env: dict[str, str], log_dir: Path, smoke: bool, service_cpus: set[int], load_cpus: set[int]
) -> Variant:
    count = int(env["NUMBERS_API_COUNT"])
    expected = b'{"total":%d}' % (count * (count - 1) // 2)
    # /total under many clients answers in waves, one a second: long enough that the last
    # wave, cut short, moves its throughput little.
    many, some, many_seconds, seconds = (20, 5, 2, 2) if smoke else (500, 50, 15, 5)
    with service(env, log_dir, cpus=service_cpus) as server:
        concurrent(server.url + "/total", expected, some, 2)  # warm-up
        total_many = concurrent(server.url + "/total", expected, many, many_seconds)
        healthz_some = concurrent(server.url + "/healthz", HEALTHY, some, seconds)
        with Probe(server.url + "/healthz", load_cpus) as probe:
            total_some = concurrent(server.url + "/total", expected, some, seconds)
    return Variant(total_many, healthz_some, replace(total_some, probe=probe.latencies))


def telemetry_cost(
    log_dir: Path, smoke: bool, service_cpus: set[int], load_cpus: set[int]
) -> list[LoadResult]:
    """Both variants in turn for a few rounds, and the table of medians with the targets."""
    env = {"NUMBERS_API_COUNT": "10000001", "NUMBERS_API_DELAY": "1.0"}
    if smoke:
        env = {"NUMBERS_API_COUNT": "1000", "NUMBERS_API_DELAY": "0.1"}
    rounds = 1 if smoke else ROUNDS
    ons: list[Variant] = []
    offs: list[Variant] = []
    for _ in range(rounds):
        ons.append(measure_variant(env, log_dir, smoke, service_cpus, load_cpus))
        offs.append(measure_variant({**env, **OFF}, log_dir, smoke, service_cpus, load_cpus))

    def medians(figure: str) -> tuple[float, float]:
        """The median of a Variant's `figure` with telemetry on, and off."""
        return (
            statistics.median(getattr(variant, figure) for variant in ons),
            statistics.median(getattr(variant, figure) for variant in offs),
        )

    many, some = (20, 5) if smoke else (500, 50)
    print(f"\n## Telemetry on (the default) and off ({', '.join(f'{k}={v}' for k, v in OFF.items())})")
    print(f"\nMedians of {rounds} rounds, the two builds in turn.")
    print("\n| measure | on | off | on / off (or on - off) | target |\n|---|---:|---:|---:|---|")
    rows = [
        (f"/total, {many} clients", *medians("total_rate"), 0.95),
        (f"/healthz, {some} clients", *medians("healthz_rate"), 0.90),
    ]
    for name, with_it, without, floor in rows:
        ratio = with_it / without
        verdict = "met" if ratio >= floor else "missed"
        rates = f"{with_it:.1f} req/s | {without:.1f} req/s"
        print(f"| {name} | {rates} | {ratio:.3f} | >= {floor} ({verdict}) |")
    on_p99, off_p99 = medians("probe_p99")
    gap = (on_p99 - off_p99) * 1000
    verdict = "met" if gap <= 2 else "missed"
    print(
        f"| probe p99, /total with {some} clients | {on_p99 * 1000:.1f} ms"
        f" | {off_p99 * 1000:.1f} ms | {gap:+.1f} ms | <= +2 ms ({verdict}) |"
    )
    return [result for variant in (*ons, *offs) for result in variant.results]
