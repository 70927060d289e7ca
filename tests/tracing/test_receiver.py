"""`make tracing-check`: the service exporting to a real OTLP receiver (the rotel collector), with
one worker and with two, and to a collector that never answers.

Every assertion is on what the receiver got: the callers' traces continued by one server span
each, one fetch span per fetch linked from every request it answered, its backend request a
child whose traceparent the backend received, no span for /healthz, and all of it flushed by
SIGTERM (the batch processor's schedule is set to a minute, so nothing leaves before it).
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.web.traces import FETCH_SPAN
from tests.processes import LOOPBACK, ServerProcess, free_port, service
from tests.recording_backend import TOTAL
from tests.tracing.receiver import Receiver, receiver

pytestmark = pytest.mark.tracing

CALLERS = 20
# Long enough for the 20 requests of a round to arrive while their fetch runs.
BACKEND_DELAY = 1.0
# With one fetch per worker per round, a round whose requests all went to one worker is sent again.
MAX_ROUNDS = 5
GRACEFUL_TIMEOUT = 4.0
# The batch processor's schedule: longer than the check, so spans leave only when flushed.
HELD = {"OTEL_BSP_SCHEDULE_DELAY": "60000"}
SECRET = "s3cret-key"


@dataclass(frozen=True)
class Answer:
    trace_id: str
    parent_id: str
    status: int
    fetch_id: str
    body: bytes


def get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
        return (
            response.status,
            {name.lower(): value for name, value in response.headers.items()},
            response.read(),
        )


def caller_trace(round_number: int, n: int) -> str:
    return f"{round_number:08x}{n:024x}"


def caller_span(n: int) -> str:
    return f"{n:016x}"


def ids_sent(traceparent: str) -> tuple[str, str]:
    """The trace id and parent span id a traceparent header names."""
    _, trace_id, span_id, _ = traceparent.split("-")
    return trace_id, span_id


def concurrent_totals(url: str, round_number: int) -> list[Answer]:
    """CALLERS concurrent /total, each on its own connection, each with its own traceparent."""

    def one(n: int) -> Answer:
        trace_id = caller_trace(round_number, n)
        status, headers, body = get(url + "/total", {"traceparent": f"00-{trace_id}-{caller_span(n)}-01"})
        return Answer(trace_id, caller_span(n), status, headers["x-fetch-id"], body)

    with ThreadPoolExecutor(CALLERS) as pool:
        return list(pool.map(one, range(1, CALLERS + 1)))


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Receiver]:
    with receiver(tmp_path) as running:
        yield running


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[ServerProcess]:
    argv = [sys.executable, "-m", "tests.recording_backend", "--port", "{port}"]
    with ServerProcess(argv, {}, tmp_path, ready_path="/seen") as process:
        yield process


def backend_saw(backend: ServerProcess) -> list[str]:
    _, _, body = get(backend.url + "/seen", {})
    seen: list[str] = json.loads(body)
    return seen


def children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def stop_and_time(server: ServerProcess) -> tuple[int, float]:
    """SIGTERM, and the exit status with the seconds until it came."""
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(GRACEFUL_TIMEOUT + 10)
    return code, time.monotonic() - started


@pytest.mark.parametrize("workers", [1, 2])
def test_traces_reach_a_real_collector(
    workers: int, collector: Receiver, backend: ServerProcess, tmp_path: Path
) -> None:
    env = {
        "WORKERS": str(workers),
        "NUMBERS_API_URL": f"{backend.url}/numbers?delay={BACKEND_DELAY}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "LOG_FORMAT": "json",
        "GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT),
        **HELD,
    }
    with service(env, tmp_path) as server:
        worker_pids = children(server.process.pid) if workers > 1 else {server.process.pid}
        assert len(worker_pids) == workers
        answers = concurrent_totals(server.url, 1)
        rounds = 1
        # Until every worker has had requests: the kernel picks which one accepts a connection.
        while workers > 1 and len({answer.fetch_id for answer in answers[-CALLERS:]}) < workers:
            assert rounds < MAX_ROUNDS, "every round went to one worker"
            rounds += 1
            answers += concurrent_totals(server.url, rounds)
        status, _, _ = get(server.url + "/healthz", {"traceparent": f"00-{'f' * 32}-{'f' * 16}-01"})
        assert status == 200
        assert collector.spans() == []  # nothing left before SIGTERM: the flush sends it all
        code, seconds = stop_and_time(server)
        log = server.stdout()
    assert (code, seconds < GRACEFUL_TIMEOUT) == (0, True)
    assert {(answer.status, answer.body) for answer in answers} == {(200, b'{"total":%d}\n' % TOTAL)}
    fetch_ids = {answer.fetch_id for answer in answers}
    if workers == 1:
        assert len(fetch_ids) == 1  # one fetch for all 20

    spans = collector.wait_for_spans(len(answers) + 2 * len(fetch_ids))
    servers = [span for span in spans if span.kind == "SPAN_KIND_SERVER"]
    fetches = {span.attributes["total_service.fetch.id"]: span for span in spans if span.name == FETCH_SPAN}
    clients = [span for span in spans if span.kind == "SPAN_KIND_CLIENT"]

    # One server span per request, in its caller's trace; none for /healthz.
    continued = sorted((span.trace_id, span.parent_id) for span in servers)
    assert continued == sorted((answer.trace_id, answer.parent_id) for answer in answers)
    assert {span.name for span in servers} == {"GET /total"}
    assert all(span.trace_id != "f" * 32 for span in spans)
    # One fetch span per fetch, a root, linked from every request it answered, in its worker.
    assert set(fetches) == fetch_ids
    assert {fetch.parent_id for fetch in fetches.values()} == {""}
    by_trace = {span.trace_id: span for span in servers}
    for answer in answers:
        fetch = fetches[answer.fetch_id]
        request = by_trace[answer.trace_id]
        assert request.links == [(fetch.trace_id, fetch.span_id)]
        assert request.resource == fetch.resource
    # One backend request per fetch, its child, whose traceparent the backend received.
    assert sorted(span.parent_id for span in clients) == sorted(fetch.span_id for fetch in fetches.values())
    assert sorted(map(ids_sent, backend_saw(backend))) == sorted(
        (span.trace_id, span.span_id) for span in clients
    )
    # Each worker exported its own spans, with its own resource attributes.
    resources = {
        (int(fetch.resource["process.pid"]), fetch.resource["service.instance.id"])
        for fetch in fetches.values()
    }
    assert {pid for pid, _ in resources} == worker_pids
    assert len(resources) == workers
    assert {(span.resource["service.name"], span.resource["host.name"]) for span in spans} == {
        ("total-service", socket.gethostname())
    }
    # The access log's records carry their requests' trace ids; /healthz's none.
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [record for record in records if record.get("logger") == "hypercorn.access"]
    traced = sorted(record["trace_id"] for record in access if record["route"] == "/total")
    assert traced == sorted(answer.trace_id for answer in answers)
    probes = [record for record in access if record["route"] == "/healthz"]
    assert probes
    assert all("trace_id" not in record for record in probes)


@pytest.fixture
def silent_collector() -> Iterator[str]:
    """A collector's address that takes connections and never answers (the kernel's backlog
    accepts them; nothing reads): every export waits for the exporter's timeout."""
    with socket.create_server((LOOPBACK, free_port()), backlog=64) as listener:
        yield f"http://{LOOPBACK}:{listener.getsockname()[1]}"


def test_silent_collector_delays_no_request(silent_collector: str, tmp_path: Path) -> None:
    """Spans past the bounded queue are dropped and counted; requests are answered at once; the
    flush at SIGTERM gives up in time; the collector's key is never logged."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": silent_collector,
        # A small queue and batch, sent at once: the exporter is stuck within the first requests.
        "OTEL_BSP_MAX_QUEUE_SIZE": "8",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2",
        "OTEL_BSP_SCHEDULE_DELAY": "10",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "30",
        "OTEL_EXPORTER_OTLP_HEADERS": f"api-key={SECRET}",
        "NUMBERS_API_COUNT": "1000",
        "NUMBERS_API_DELAY": "0",
        "GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT),
    }
    with service(env, tmp_path) as server:
        slowest = 0.0
        for _ in range(40):
            started = time.monotonic()
            status, _, body = get(server.url + "/total", {})
            slowest = max(slowest, time.monotonic() - started)
            assert (status, body) == (200, b'{"total":499500}\n')
        dropped = server.scraped("traces_dropped_spans_total", reason="queue_full")
        code, seconds = stop_and_time(server)
        logs = server.stdout() + server.stderr()
    # Each export waits 30 s for the collector: a request that waited on it would show it.
    assert slowest < 5
    assert dropped > 0
    assert SECRET not in logs
    assert (code, seconds < GRACEFUL_TIMEOUT) == (0, True)
