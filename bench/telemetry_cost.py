"""What telemetry costs: the same build with it on (the default) and off (METRICS=off and
ACCESS_LOG=off, as an operator who scrapes nothing may run it), side by side.

Targets: telemetry costs at most 5% of the 500-client /total throughput and at most 10% of
/healthz requests per second (50 clients), and keeps the 50-client probe p99 within 2 ms.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bench.load import LoadResult, concurrent, percentile
from bench.probe import Probe
from bench.processes import service

HEALTHY = b'{"status":"ok"}'
OFF = {"METRICS": "off", "ACCESS_LOG": "off"}


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


def measure_variant(
    env: dict[str, str], log_dir: Path, smoke: bool, service_cpus: set[int], load_cpus: set[int]
) -> Variant:
    count = int(env["NUMBERS_API_COUNT"])
    expected = b'{"total":%d}' % (count * (count - 1) // 2)
    many, some, seconds = (20, 5, 2) if smoke else (500, 50, 15)
    with service(env, log_dir, cpus=service_cpus) as server:
        concurrent(server.url + "/total", expected, some, 2)  # warm-up
        total_many = concurrent(server.url + "/total", expected, many, seconds)
        healthz_some = concurrent(server.url + "/healthz", HEALTHY, some, seconds)
        with Probe(server.url + "/healthz", load_cpus) as probe:
            total_some = concurrent(server.url + "/total", expected, some, seconds)
    return Variant(total_many, healthz_some, replace(total_some, probe=probe.latencies))


def telemetry_cost(
    log_dir: Path, smoke: bool, service_cpus: set[int], load_cpus: set[int]
) -> list[LoadResult]:
    """Both variants, one after the other, and the table with the targets."""
    env = {"NUMBERS_API_COUNT": "10000001", "NUMBERS_API_DELAY": "1.0"}
    if smoke:
        env = {"NUMBERS_API_COUNT": "1000", "NUMBERS_API_DELAY": "0.1"}
    on = measure_variant(env, log_dir, smoke, service_cpus, load_cpus)
    off = measure_variant({**env, **OFF}, log_dir, smoke, service_cpus, load_cpus)
    many, some = (20, 5) if smoke else (500, 50)
    print(f"\n## Telemetry on (the default) and off ({', '.join(f'{k}={v}' for k, v in OFF.items())})")
    print("\n| measure | on | off | on / off (or on - off) | target |\n|---|---:|---:|---:|---|")
    rows = [
        (f"/total, {many} clients", on.total_many.throughput, off.total_many.throughput, "req/s", 0.95),
        (f"/healthz, {some} clients", on.healthz_some.throughput, off.healthz_some.throughput, "req/s", 0.90),
    ]
    for name, with_it, without, unit, floor in rows:
        ratio = with_it / without
        verdict = "met" if ratio >= floor else "missed"
        print(
            f"| {name} | {with_it:.1f} {unit} | {without:.1f} {unit} | {ratio:.3f} | >= {floor} ({verdict}) |"
        )
    gap = (on.probe_p99 - off.probe_p99) * 1000
    verdict = "met" if gap <= 2 else "missed"
    print(
        f"| probe p99, /total with {some} clients | {on.probe_p99 * 1000:.1f} ms"
        f" | {off.probe_p99 * 1000:.1f} ms | {gap:+.1f} ms | <= +2 ms ({verdict}) |"
    )
    return [on.total_many, on.healthz_some, on.total_some, off.total_many, off.healthz_some, off.total_some]
