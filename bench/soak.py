"""The soak: 100,000 requests on each backend, then the server must be back where it was.

Each run: a warm-up, the idle state (RSS, open file descriptors, asyncio tasks), the
requests from 50 wrk connections, and the idle state again once the connections are gone.
"""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.load import LoadResult, concurrent
from bench.processes import ServerProcess, reference_backend, service

SOAK_REQUESTS = 100_000
SOAK_CLIENTS = 50
WARMUP_REQUESTS = 5_000
# Past the server's keep-alive timeout, every connection the load left is closed.
SETTLE_SECONDS = 10.0
EXPECTED = b'{"total":499500}'


@dataclass(frozen=True)
class Idle:
    """A server at rest: resident memory, open file descriptors, asyncio tasks."""

    rss_mib: float
    fds: int
    tasks: int


def idle_state(server: ServerProcess) -> Idle:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    rss_kib = int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])
    fds = len(list(Path(f"/proc/{server.process.pid}/fd").iterdir()))
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        exposition = response.read().decode()
    tasks = next(
        int(sample.value)
        for family in text_string_to_metric_families(exposition)
        if family.name == "asyncio_tasks"
        for sample in family.samples
    )
    return Idle(rss_kib / 1024, fds, tasks)


def settled(server: ServerProcess, before: Idle) -> Idle:
    """The idle state once file descriptors and tasks are back to `before`, or SETTLE_SECONDS on."""
    deadline = time.monotonic() + SETTLE_SECONDS
    state = idle_state(server)
    while (state.fds, state.tasks) != (before.fds, before.tasks) and time.monotonic() < deadline:
        time.sleep(0.5)
        state = idle_state(server)
    return state


@dataclass(frozen=True)
class SoakRun:
    backend: str
    result: LoadResult
    warm: Idle
    end: Idle

    @property
    def settled(self) -> bool:
        return self.end.rss_mib <= 1.1 * self.warm.rss_mib and (self.end.fds, self.end.tasks) == (
            self.warm.fds,
            self.warm.tasks,
        )


def soak_one(backend: str, server: ServerProcess, requests: int) -> SoakRun:
    url = server.url + "/total"
    concurrent(url, EXPECTED, SOAK_CLIENTS, 600, requests=min(WARMUP_REQUESTS, requests))
    warm = settled(server, idle_state(server))
    result = concurrent(url, EXPECTED, SOAK_CLIENTS, 3600, requests=requests)
    return SoakRun(backend, result, warm, settled(server, warm))


def soak(log_dir: Path, smoke: bool, service_cpus: set[int], load_cpus: set[int]) -> list[LoadResult]:
    """Both soaks, printed as a table; a result with errors or wrong totals fails the bench,
    and so does a server that did not settle (reported as one error)."""
    requests = 2_000 if smoke else SOAK_REQUESTS
    runs = []
    env = {"NUMBERS_API_COUNT": "1000", "NUMBERS_API_DELAY": "0.01"}
    with service(env, log_dir, cpus=service_cpus) as server:
        runs.append(soak_one("simulated, 1,000 numbers after 10 ms", server, requests))
    with reference_backend(log_dir, 1000, cpus=load_cpus) as backend:
        env = {"NUMBERS_API_URL": backend.url + "/numbers"}
        with service(env, log_dir, cpus=service_cpus) as server:
            runs.append(soak_one("reference HTTP, 1,000 numbers", server, requests))
    print(f"\n## Soak: {requests} requests from {SOAK_CLIENTS} connections on each backend")
    print("\nRSS, file descriptors and asyncio tasks after a warm-up and at the end, at rest;")
    print("the end's RSS must be within 10% of the warm-up's, descriptors and tasks equal.\n")
    print(
        "| backend | requests | errors | wrong | req/s | RSS warm | RSS end | end / warm"
        " | fds warm / end | tasks warm / end |\n|---|" + "---:|" * 9
    )
    for run in runs:
        r = run.result
        print(
            f"| {run.backend} | {r.requests} | {r.errors} | {r.wrong_totals} | {r.throughput:.0f}"
            f" | {run.warm.rss_mib:.1f} MiB | {run.end.rss_mib:.1f} MiB"
            f" | {run.end.rss_mib / run.warm.rss_mib:.3f}"
            f" | {run.warm.fds} / {run.end.fds} | {run.warm.tasks} / {run.end.tasks} |"
        )
    # A server that did not settle fails the bench as one error.
    return [run.result if run.settled else replace(run.result, errors=run.result.errors + 1) for run in runs]
