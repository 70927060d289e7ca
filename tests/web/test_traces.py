"""Traces, as the SDK's in-memory exporter receives them from the app: server spans continuing
their callers' traces, one fetch span linked from every request it answered, the backend
request its child with `traceparent` sent, and no span for probes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags
from prometheus_client import REGISTRY
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from app import logs
from app.config import Config
from app.web import traces
from app.web.factory import create_app
from app.web.request_context import FETCH_HEADER
from tests.processes import LOOPBACK, PROJECT
from tests.recording_backend import TOTAL, Recording, recording_backend

# Tracing on, towards a collector that is never reached: the in-memory exporter takes its place.
ENDPOINT = "http://127.0.0.1:9"
TRACED = Config(numbers_api_count=1000, numbers_api_delay=0.05, otel_exporter_otlp_endpoint=ENDPOINT)
CALLERS = 5


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """What the app exports, kept in memory."""
    memory = InMemorySpanExporter()
    monkeypatch.setattr(traces, "exporter", lambda config: memory)
    return memory


@asynccontextmanager
async def traced(config: Config) -> AsyncIterator[tuple[Quart, QuartClient]]:
    """The app, serving; when the block ends it stops, which flushes its spans."""
    app = create_app(config)
    async with app.test_app():
        yield app, app.test_client()


@asynccontextmanager
async def traced_backend(
    query: str = "", userinfo: str = "", **settings: Any
) -> AsyncIterator[tuple[QuartClient, Recording]]:
    """The app, serving, with a recording backend (its URL with `userinfo` and `query`); what
    the backend recorded."""
    async with recording_backend() as recording:
        url = recording.url.replace("://", f"://{userinfo}") + query
        config = Config(numbers_api_url=url, otel_exporter_otlp_endpoint=ENDPOINT, **settings)
        async with traced(config) as (_, client):
            yield client, recording


def traceparent(n: int) -> str:
    """A caller's W3C traceparent, sampled: trace n, parent span n."""
    return f"00-{n:032x}-{n:016x}-01"


def sent_ids(header: str | None) -> tuple[str, str]:
    """The trace and parent ids a sampled `traceparent` header names."""
    assert header is not None
    version, trace_id, span_id, flags = header.split("-")
    assert (version, int(flags, 16) & 1) == ("00", 1)
    return trace_id, span_id


def by_kind(spans: Sequence[ReadableSpan], kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in spans if span.kind == kind]


def fetch_spans(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return [span for span in spans if span.name == traces.FETCH_SPAN]


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return trace.format_trace_id(span.context.trace_id), trace.format_span_id(span.context.span_id)


async def concurrent_totals(client: QuartClient, callers: int) -> list[Any]:
    return await asyncio.gather(
        *(client.get("/total", headers={"traceparent": traceparent(n)}) for n in range(1, callers + 1))
    )


class TestServerSpans:
    async def test_each_request_continues_its_callers_trace(self, exported: InMemorySpanExporter) -> None:
        async with traced(TRACED) as (_, client):
            responses = await concurrent_totals(client, CALLERS)
        assert [response.status_code for response in responses] == [200] * CALLERS
        servers = by_kind(exported.get_finished_spans(), SpanKind.SERVER)
        assert len(servers) == CALLERS
        callers = {
            (span.context.trace_id, span.parent.span_id) for span in servers if span.parent and span.context
        }
        assert callers == {(n, n) for n in range(1, CALLERS + 1)}

    async def test_named_by_route_with_method_and_status(self, exported: InMemorySpanExporter) -> None:
        async with traced(TRACED) as (_, client):
            await client.get("/total?x=1")
            await client.get("/no-such-path-1234")
            await client.post("/total")
        total, unmatched, refused = by_kind(exported.get_finished_spans(), SpanKind.SERVER)
        assert total.name == "GET /total"
        assert total.status.status_code == StatusCode.UNSET
        assert total.attributes == {
            "http.request.method": "GET",
            "http.route": "/total",
            "http.response.status_code": 200,
            "url.scheme": "http",
            "url.path": "/total",
            "url.query": "x=1",
            "network.protocol.version": "1.1",
            "user_agent.original": "Quart",
            traces.ANSWERED: "started",
        }
        # A path no rule matches names no span: a scan of random paths makes no new names.
        assert unmatched.name == "GET"
        assert unmatched.attributes is not None
        assert "http.route" not in unmatched.attributes
        assert unmatched.attributes["http.response.status_code"] == 404
        assert refused.attributes is not None
        assert (refused.name, refused.attributes["http.response.status_code"]) == ("POST", 405)

    async def test_server_error_is_the_spans_error(self, exported: InMemorySpanExporter) -> None:
        async with traced_backend("?status=500") as (client, _):
            assert (await client.get("/total")).status_code == 502
        (server,) = by_kind(exported.get_finished_spans(), SpanKind.SERVER)
        assert server.status.status_code == StatusCode.ERROR

    async def test_probes_and_scrapes_make_no_span(self, exported: InMemorySpanExporter) -> None:
        async with traced(TRACED) as (_, client):
            for path in ("/healthz", "/readyz", "/metrics"):
                assert (await client.get(path, headers={"traceparent": traceparent(7)})).status_code == 200
        assert exported.get_finished_spans() == ()


class TestFetchSpan:
    async def test_one_fetch_linked_from_every_request(self, exported: InMemorySpanExporter) -> None:
        async with traced(TRACED) as (_, client):
            responses = await concurrent_totals(client, CALLERS)
        spans = exported.get_finished_spans()
        (fetch,) = fetch_spans(spans)
        assert fetch.parent is None  # a trace of its own: no one request's child
        assert fetch.attributes == {
            traces.FETCH_ID: responses[0].headers[FETCH_HEADER],
            traces.FETCH_SOURCE: "simulated backend (1000 numbers after 0.05 s)",
            traces.FETCH_OUTCOME: "ok",
            traces.FETCH_COUNT: 1000,
            traces.FETCH_ATTEMPTS: 1,
            traces.FETCH_NOT_MODIFIED: False,
        }
        servers = by_kind(spans, SpanKind.SERVER)
        assert all([link.context for link in span.links] == [fetch.context] for span in servers)
        answered = sorted(str(span.attributes[traces.ANSWERED]) for span in servers if span.attributes)
        assert answered == ["joined"] * (CALLERS - 1) + ["started"]

    async def test_answers_from_the_freshness_window_say_so(self, exported: InMemorySpanExporter) -> None:
        async with traced(dataclasses.replace(TRACED, total_max_age=60.0)) as (_, client):
            await client.get("/total")
            await client.get("/total")
        spans = exported.get_finished_spans()
        (fetch,) = fetch_spans(spans)
        first, second = by_kind(spans, SpanKind.SERVER)
        assert first.attributes is not None
        assert second.attributes is not None
        assert (first.attributes[traces.ANSWERED], second.attributes[traces.ANSWERED]) == ("started", "fresh")
        # The fresh answer came from that fetch's total, long ended: the link says which.
        assert [link.context for link in second.links] == [fetch.context]

    async def test_backend_request_is_the_fetchs_child_and_carries_traceparent(
        self, exported: InMemorySpanExporter
    ) -> None:
        async with traced_backend() as (client, backend):
            response = await client.get("/total")
            assert await response.get_json() == {"total": TOTAL}
        spans = exported.get_finished_spans()
        (fetch,) = fetch_spans(spans)
        (backend_request,) = by_kind(spans, SpanKind.CLIENT)
        assert backend_request.parent == fetch.context
        assert [sent_ids(header) for header in backend.seen] == [hex_ids(backend_request)]
        assert backend_request.attributes is not None
        assert (
            backend_request.attributes["http.method"],
            backend_request.attributes["http.status_code"],
        ) == (
            "GET",
            200,
        )
        assert backend_request.attributes["http.url"] == backend.url

    async def test_backend_request_ends_at_the_headers(self, exported: InMemorySpanExporter) -> None:
        """The backend request's span ends with its headers: the body's time is the fetch's."""
        async with traced_backend("?body_delay=0.1") as (client, backend):
            assert (await client.get("/total")).status_code == 200
        spans = exported.get_finished_spans()
        (fetch,) = fetch_spans(spans)
        (backend_request,) = by_kind(spans, SpanKind.CLIENT)
        (body_sent,) = backend.bodies
        assert backend_request.end_time is not None
        assert fetch.end_time is not None
        assert backend_request.end_time < body_sent < fetch.end_time

    async def test_not_modified_reuse_says_so(self, exported: InMemorySpanExporter) -> None:
        async with traced_backend() as (client, _):
            await client.get("/total")
            await client.get("/total")  # the backend answers 304 to the list's ETag
        first, second = (span.attributes or {} for span in fetch_spans(exported.get_finished_spans()))
        assert first[traces.FETCH_NOT_MODIFIED] is False
        assert second[traces.FETCH_NOT_MODIFIED] is True
        assert (second[traces.FETCH_OUTCOME], second[traces.FETCH_COUNT]) == ("not_modified", 3)

    async def test_failed_fetch_each_attempt_a_child(self, exported: InMemorySpanExporter) -> None:
        async with traced_backend("?status=503", numbers_api_retries=2) as (client, backend):
            responses = await concurrent_totals(client, 2)
        assert [response.status_code for response in responses] == [502, 502]
        spans = exported.get_finished_spans()
        (fetch,) = fetch_spans(spans)
        assert fetch.status.status_code == StatusCode.ERROR
        attributes = fetch.attributes or {}
        assert (attributes[traces.FETCH_OUTCOME], attributes[traces.FETCH_ATTEMPTS]) == ("bad_status", 3)
        assert attributes["error.type"] == "bad_status"
        assert [event.name for event in fetch.events] == ["retry", "retry"]
        attempts = by_kind(spans, SpanKind.CLIENT)
        assert [span.parent for span in attempts] == [fetch.context] * 3
        assert [hex_ids(span) for span in attempts] == [sent_ids(header) for header in backend.seen]
        # The requests that got the failure link to the fetch that failed.
        servers = by_kind(spans, SpanKind.SERVER)
        assert all([link.context for link in span.links] == [fetch.context] for span in servers)

    async def test_backend_password_not_in_spans(self, exported: InMemorySpanExporter) -> None:
        async with traced_backend(userinfo="user:hunter2@") as (client, _):
            await client.get("/total")
        everything = "".join(span.to_json() for span in exported.get_finished_spans())
        assert "127.0.0.1" in everything
        assert "hunter2" not in everything


def sampled(config: Config, trace_id: int, caller_sampled: bool | None = None) -> bool:
    """Whether the configured sampler keeps a trace `trace_id`, with a caller that sampled it or not."""
    parent = None
    if caller_sampled is not None:
        caller = SpanContext(trace_id, 1, is_remote=True, trace_flags=TraceFlags(int(caller_sampled)))
        parent = trace.set_span_in_context(NonRecordingSpan(caller))
    decision = traces.sampler(config).should_sample(parent, trace_id, "GET /total").decision
    return decision == Decision.RECORD_AND_SAMPLE


class TestSampling:
    # Trace ids that a ratio sampler of 0.1 keeps and drops (it compares their low 64 bits).
    KEPT, DROPPED = 1, 2**64 - 1

    def test_ratio_decides_roots_and_follows_callers(self) -> None:
        config = Config(otel_traces_sampler="parentbased_traceidratio", otel_traces_sampler_arg=0.1)
        assert (sampled(config, self.KEPT), sampled(config, self.DROPPED)) == (True, False)
        assert sampled(config, self.DROPPED, caller_sampled=True) is True
        assert sampled(config, self.KEPT, caller_sampled=False) is False

    def test_plain_ratio_ignores_callers(self) -> None:
        config = Config(otel_traces_sampler="traceidratio", otel_traces_sampler_arg=0.1)
        assert sampled(config, self.DROPPED, caller_sampled=True) is False
        assert sampled(config, self.KEPT, caller_sampled=False) is True

    def test_default_samples_every_root(self) -> None:
        assert sampled(Config(), self.DROPPED) is True
        assert sampled(Config(otel_traces_sampler="always_off"), self.KEPT) is False

    async def test_unsampled_root_exports_nothing_sampled_caller_its_request(
        self, exported: InMemorySpanExporter
    ) -> None:
        config = dataclasses.replace(TRACED, otel_traces_sampler="parentbased_always_off")
        async with traced(config) as (_, client):
            await client.get("/total")
            await client.get("/total", headers={"traceparent": traceparent(3)})
        (server,) = by_kind(exported.get_finished_spans(), SpanKind.SERVER)
        assert server.context is not None
        assert server.context.trace_id == 3
        # Its fetch, a root, was sampled on its own (not at all here): linked, yet not recorded.
        assert fetch_spans(exported.get_finished_spans()) == []
        assert len(server.links) == 1


class TestLogs:
    def test_records_carry_the_current_spans_ids(self) -> None:
        add = logs.trace_ids()
        tracer = TracerProvider().get_tracer(__name__)
        with tracer.start_as_current_span("work") as span:
            event = add(None, "info", {"event": "x"})
        trace_id, span_id = hex_ids(span)  # type: ignore[arg-type]
        assert event == {"event": "x", "trace_id": trace_id, "span_id": span_id}
        assert add(None, "info", {"event": "y"}) == {"event": "y"}

    async def test_json_lines_of_a_fetch_name_its_span(
        self, exported: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]
    ) -> None:
        config = dataclasses.replace(TRACED, log_format="json")
        root = logging.getLogger()
        kept, level = root.handlers[:], root.level
        root.handlers.clear()  # logging.basicConfig configures a root logger with no handler only
        logs.configure(config)
        try:
            async with traced(config) as (_, client):
                await client.get("/total")
        finally:
            root.handlers[:] = kept
            root.setLevel(level)
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        (fetch,) = fetch_spans(exported.get_finished_spans())
        summed = next(line for line in lines if line["event"].startswith("summed"))
        assert (summed["trace_id"], summed["span_id"]) == hex_ids(fetch)

    async def test_problem_body_carries_no_trace(self, exported: InMemorySpanExporter) -> None:
        async with traced_backend("?status=500") as (client, _):
            response = await client.get("/total", headers={"traceparent": traceparent(9)})
            body = await response.get_data(as_text=True)
        assert response.status_code == 502
        assert set(json.loads(body)) == {"type", "title", "status", "detail"}
        assert f"{9:032x}" not in body
        assert "trace" not in body


class TestExport:
    async def test_otlp_http_with_the_configured_headers(self) -> None:
        """The real exporter posts OTLP/HTTP protobuf to <endpoint>/v1/traces with the headers
        OTEL_EXPORTER_OTLP_HEADERS names, flushed when the app stops."""
        posts: list[tuple[str, dict[str, str], bytes]] = []

        async def collect(request: web.Request) -> web.Response:
            posts.append((request.path, dict(request.headers), await request.read()))
            return web.Response(body=b"", content_type="application/x-protobuf")

        collector = web.Application()
        collector.router.add_post("/v1/traces", collect)
        runner = web.AppRunner(collector)
        await runner.setup()
        await web.TCPSite(runner, LOOPBACK, 0).start()
        endpoint = f"http://{LOOPBACK}:{runner.addresses[0][1]}"
        config = dataclasses.replace(
            TRACED, otel_exporter_otlp_endpoint=endpoint, otel_exporter_otlp_headers=(("api-key", "s3cret"),)
        )
        try:
            async with traced(config) as (_, client):
                await client.get("/total")
        finally:
            await runner.cleanup()
        ((path, headers, body),) = posts
        assert (path, headers["api-key"], headers["Content-Type"]) == (
            "/v1/traces",
            "s3cret",
            "application/x-protobuf",
        )
        request = ExportTraceServiceRequest.FromString(body)
        names = {
            span.name
            for spans in request.resource_spans
            for scope in spans.scope_spans
            for span in scope.spans
        }
        assert names == {"GET /total", traces.FETCH_SPAN}


class TestDroppedSpans:
    def test_spans_past_a_full_queue_counted(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """While the exporter is stuck the queue fills; every span past it is dropped and counted."""
        monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
        monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1")
        stuck = StuckExporter()
        provider = TracerProvider()
        provider.add_span_processor(traces.batch_processor(stuck))
        tracer = provider.get_tracer(__name__)
        before = dropped()
        tracer.start_span("first").end()
        assert stuck.exporting.wait(10)  # the worker holds "first", stuck in the export
        for n in range(4 + 3):
            tracer.start_span(f"queued {n}").end()
        assert dropped() - before == 3
        stuck.release.set()
        provider.shutdown()


def dropped() -> float:
    return REGISTRY.get_sample_value("traces_dropped_spans_total", {"reason": "queue_full"}) or 0.0


class StuckExporter(SpanExporter):
    """An exporter stuck in its first export (a collector that does not answer) until released."""

    def __init__(self) -> None:
        self.exporting = threading.Event()
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exporting.set()
        self.release.wait(10)
        return SpanExportResult.SUCCESS


def test_tracing_off_loads_no_opentelemetry() -> None:
    """With no collector named, the app, its server and its logs import no OpenTelemetry module."""
    program = (
        "import sys\n"
        "from app import logs, serve, supervisor\n"
        "from app.config import Config\n"
        "from app.web.factory import create_app\n"
        "config = Config(log_format='json')\n"
        "logs.configure(config)\n"
        "create_app(config)\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
