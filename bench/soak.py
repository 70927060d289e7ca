"""The soak: 100,000 requests on each backend, then the server must be back where it was.

Each run: a warm-up, the idle state (RSS, open file descriptors, asyncio tasks), the
requests from 50 wrk connections, and the idle state again once the connections are gone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench.load import LoadResult, concurrent
from tests.processes import ServerProcess, reference_backend, service

SOAK_REQUESTS = 100_000
SOAK_CLIENTS = 50
WARMUP_SECONDS = 5.0
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
    return Idle(rss_kib / 1024, fds, int(server.scraped("asyncio_tasks")))


def settled(server: ServerProcess, tasks: int, fds: int | None = None) -> Idle:
    """The idle state once the asyncio tasks are back to `tasks` (and the descriptors to `fds`
    at most), or SETTLE_SECONDS on."""
    deadline = time.monotonic() + SETTLE_SECONDS
    state = idle_state(server)
    while (state.tasks != tasks or (fds is not None and state.fds > fds)) and time.monotonic() < deadline:
        time.sleep(0.5)
        state = idle_state(server)
    return state


@dataclass(frozen=True)
class SoakRun:
    backend: str
    requests: int
    rate: float  # requests per second in the warm-up: wrk runs out its duration after the quota
    result: LoadResult
    warm: Idle
    end: Idle

    @property
    def passed(self) -> bool:
        """Every request was sent, and the server came back to its warm state at rest."""
        # Fewer descriptors is fine: a pooled connection to the backend may have closed since.
        back = self.end.fds <= self.warm.fds and self.end.tasks == self.warm.tasks
        return self.result.requests >= self.requests and self.end.rss_mib <= 1.1 * self.warm.rss_mib and back


def soak_one(backend: str, server: ServerProcess, requests: int, warmup_seconds: float) -> SoakRun:
    url = server.url + "/total"
    started = idle_state(server)
    warmup = concurrent(url, EXPECTED, SOAK_CLIENTS, warmup_seconds)
    # At rest: the warm-up's connections gone and their tasks with them (measured at once,
    # a server still winding them down looked like one whose tasks leaked).
    warm = settled(server, started.tasks)
    # wrk stops sending at the quota but runs out its duration: half as much again as the
    # warm-up's rate needs (a quarter fell short: the rate wanders on this machine).
    seconds = 1.5 * requests / warmup.throughput
    result = concurrent(url, EXPECTED, SOAK_CLIENTS, seconds, requests=requests)
    return SoakRun(backend, requests, warmup.throughput, result, warm, settled(server, warm.tasks, warm.fds))


def soak(log_dir: Path, smoke: bool, service_cpus: set[int], load_cpus: set[int]) -> list[LoadResult]:
    """Both soaks, printed as a table; a result with errors or wrong totals fails the bench,
    and so does a server that did not settle (reported as one error)."""
    requests, warmup = (2_000, 1.0) if smoke else (SOAK_REQUESTS, WARMUP_SECONDS)
    runs = []
    env = {"NUMBERS_API_COUNT": "1000", "NUMBERS_API_DELAY": "0.01"}
    with service(env, log_dir, cpus=service_cpus) as server:
        runs.append(soak_one("simulated, 1,000 numbers after 10 ms", server, requests, warmup))
    with reference_backend(log_dir, 1000, cpus=load_cpus) as backend:
        env = {"NUMBERS_API_URL": backend.url + "/numbers?etag=off"}  # every fetch reads a body
        with service(env, log_dir, cpus=service_cpus) as server:
            runs.append(soak_one("reference HTTP, 1,000 numbers", server, requests, warmup))
    print(f"\n## Soak: {requests} requests from {SOAK_CLIENTS} connections on each backend")
    print("\nRSS, file descriptors and asyncio tasks after a warm-up and at the end, at rest;")
    print("the end's RSS must be within 10% of the warm-up's, descriptors no more, tasks equal.\n")
    print(
        "| backend | requests | errors | wrong | req/s (warm-up) | RSS warm | RSS end | end / warm"
        " | fds warm / end | tasks warm / end |\n|---|" + "---:|" * 9
    )
    for run in runs:
        r = run.result
        print(
            f"| {run.backend} | {r.requests} | {r.errors} | {r.wrong_totals} | {run.rate:.0f}"
            f" | {run.warm.rss_mib:.1f} MiB | {run.end.rss_mib:.1f} MiB"
            f" | {run.end.rss_mib / run.warm.rss_mib:.3f}"
            f" | {run.warm.fds} / {run.end.fds} | {run.warm.tasks} / {run.end.tasks} |"
        )
    # A run that fell short or a server that did not settle fails the bench as one error.
    return [run.result if run.passed else replace(run.result, errors=run.result.errors + 1) for run in runs]
