"""What the freshness windows give: /total with TOTAL_MAX_AGE=5 against /healthz of the same
server, both under 500 clients, on the simulated backend (10,000,001 numbers after 1 s).

Targets: /total gets at least 80% of /healthz's requests per second, its p99 is at most
50 ms, and the backend is fetched at most 4 times in the run. With TOTAL_MAX_AGE alone every
request after expiry waits for the refresh (a second), so the target needs a stale window:
the run sets TOTAL_STALE_WHILE_REVALIDATE=5, and prints the run without it and the service
without windows beside it.
"""

from __future__ import annotations

from pathlib import Path

from bench.load import LoadResult, concurrent, sequential
from tests.processes import ServerProcess, service

HEALTHY = b'{"status":"ok"}'
MAX_AGE = {"TOTAL_MAX_AGE": "5"}
STALE = {"TOTAL_STALE_WHILE_REVALIDATE": "5"}


def freshness(log_dir: Path, smoke: bool, service_cpus: set[int]) -> list[LoadResult]:
    env = {"NUMBERS_API_COUNT": "10000001", "NUMBERS_API_DELAY": "1.0"}
    clients, seconds = (500, 15.0)
    if smoke:
        env = {"NUMBERS_API_COUNT": "1000", "NUMBERS_API_DELAY": "0.1"}
        clients, seconds = (20, 2.0)
    count = int(env["NUMBERS_API_COUNT"])
    expected = b'{"total":%d}' % (count * (count - 1) // 2)

    def measure_total(server: ServerProcess) -> tuple[LoadResult, int]:
        sequential(server.url + "/total", expected, 1)  # the first fetch, before the clients
        result = concurrent(server.url + "/total", expected, clients, seconds)
        return result, round(server.scraped("numbers_backend_fetches_total"))

    (name, windows), *others = [
        ("TOTAL_MAX_AGE=5, TOTAL_STALE_WHILE_REVALIDATE=5", {**MAX_AGE, **STALE}),
        ("TOTAL_MAX_AGE=5 alone", MAX_AGE),
        ("no windows (the default)", {}),
    ]
    with service({**env, **windows}, log_dir, cpus=service_cpus) as server:
        healthz = concurrent(server.url + "/healthz", HEALTHY, clients, seconds)
        rows = [(name, *measure_total(server))]
    for other, other_windows in others:
        with service({**env, **other_windows}, log_dir, cpus=service_cpus) as server:
            rows.append((other, *measure_total(server)))
    print(f"\n## Freshness windows: /total and /healthz, {clients} clients for {seconds:g} s each")
    print(
        f"\n/healthz of the same server: {healthz.throughput:.1f} req/s, p99 {healthz.p99 * 1000:.1f} ms"
        "\n\n| /total with | req/s | / healthz req/s | p50 | p99 | / healthz p99 | backend fetches | errors |"
        "\n|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for row_name, result, fetched in rows:
        print(
            f"| {row_name} | {result.throughput:.1f} | {result.throughput / healthz.throughput:.3f} "
            f"| {result.p50 * 1000:.1f} ms | {result.p99 * 1000:.1f} ms | {result.p99 / healthz.p99:.2f} "
            f"| {fetched} "
            f"| {result.errors + result.wrong_totals} |"
        )
    _, result, fetched = rows[0]
    ratio = result.throughput / healthz.throughput
    checks = [
        (f"req/s / healthz's >= 0.80: {ratio:.3f}", ratio >= 0.80),
        (f"p99 <= 50 ms: {result.p99 * 1000:.1f} ms", result.p99 <= 0.050),
        (f"backend fetches <= 4: {fetched}", fetched <= 4),
    ]
    print(f"\nTargets ({name}): " + "; ".join(f"{text} ({'met' if ok else 'missed'})" for text, ok in checks))
    # Little's law: closed-loop clients wait clients / throughput seconds on average.
    print(
        f"{clients} clients each sending a request as soon as the last is answered wait on average "
        f"{clients / healthz.throughput * 1000:.0f} ms at /healthz's throughput; a p99 of 50 ms would "
        f"need {clients / 0.050:.0f} req/s."
    )
    return [healthz, *(result for _, result, _ in rows)]
