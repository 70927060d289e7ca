"""Traces (OpenTelemetry), on when the OTEL_* settings name a collector: a server span for each
request, a span of its own for each fetch, a client span for each request to the backend.

- A request's server span continues the caller's W3C `traceparent` (ServerSpans, around the
  app); `/healthz`, `/readyz` and `/metrics` make no span.
- A fetch is shared by every request that arrives while it runs (single flight), so it is the
  root of a trace of its own, not one request's child (docs/design.md, "Traces"); each /total
  request's server span links to the fetch that answered it, added once the answer names it,
  and says how it was answered: started, joined, fresh or stale.
- The fetch's span is current in the fetch's own context, so the aiohttp client instrumentation
  makes each request to the backend its child and sends that child's `traceparent`.
- Spans leave in batches from a thread (the SDK's batch processor): a slow or unreachable
  collector fills its bounded queue, spans past it are dropped and counted, and no request waits.
  When the server stops they are flushed for at most FLUSH_SECONDS.

This module is imported only when tracing is on (app.web.telemetry): with it off, no module of
OpenTelemetry is loaded.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable

from hypercorn.typing import ASGIFramework as ASGIApp
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent, HTTPScope, Scope
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter
from quart import Quart, Response, request

from app.config import Config
from app.numbers.errors import BackendError
from app.numbers.events import FetchObserver, FetchReport, HowAnswered
from app.web.request_context import FETCH_HEADER, UNMATCHED, record_of

# Probes and scrapes come every few seconds from every platform: spans of them would drown the rest.
UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})
# The route whose answers name a fetch (X-Fetch-ID).
TOTAL_ROUTE = "/total"
# Seconds the spans still queued get to leave when the server stops: requests waiting for a
# fetch are answered 0.5 s before the grace period ends (app.serve), so the flush ends within it.
FLUSH_SECONDS = 0.5
# Fetches whose span a request may still link to: every fetch a request now waiting joined,
# and the latest successful one, which the freshness windows answer from.
LINKABLE_FETCHES = 64
FETCH_SPAN = "fetch numbers"
# Attributes of the service's own (OpenTelemetry's advice: a prefix of the application's).
ANSWERED = "total_service.answered"
FETCH_ID = "total_service.fetch.id"
FETCH_SOURCE = "total_service.fetch.source"
FETCH_OUTCOME = "total_service.fetch.outcome"
FETCH_COUNT = "total_service.fetch.count"
FETCH_ATTEMPTS = "total_service.fetch.attempts"
FETCH_NOT_MODIFIED = "total_service.fetch.not_modified"

DROPPED = Counter(
    "traces_dropped_spans",
    "Spans dropped before export: the queue full (a slow or unreachable collector), or ended "
    "after the flush at shutdown",
    ["reason"],
)


def sampler(config: Config) -> Sampler:
    """The sampler OTEL_TRACES_SAMPLER names, with OTEL_TRACES_SAMPLER_ARG's ratio (default 1)."""
    name = config.otel_traces_sampler
    kind = name.removeprefix("parentbased_")
    ratio = 1.0 if config.otel_traces_sampler_arg is None else config.otel_traces_sampler_arg
    root = {"always_on": ALWAYS_ON, "always_off": ALWAYS_OFF}.get(kind) or TraceIdRatioBased(ratio)
    return ParentBased(root) if kind != name else root


def exporter(config: Config) -> SpanExporter:
    """OTLP/HTTP to the collector the configuration names (tests put an in-memory exporter here)."""
    return OTLPSpanExporter(endpoint=config.otel_traces_url, headers=dict(config.otel_exporter_otlp_headers))


class _DropCounter:
    """The batch processor's own account of what it drops, counted in DROPPED.

    The SDK keeps that account through an OpenTelemetry meter, on only with a variable of its
    own; its processor takes this object in the meter's place (the protocol of
    opentelemetry.sdk._shared_internal's ProcessorMetricsT).
    """

    def register_queue_size(self, get_queue_size: Callable[[], int]) -> None:
        """The queue's length is not exported."""

    def drop_items(self, count: int, error_type: str = "queue_full") -> None:
        DROPPED.labels(error_type).inc(count)

    def finish_items(self, count: int) -> None:
        """Spans handed to the exporter are not counted."""


def batch_processor(span_exporter: SpanExporter) -> BatchSpanProcessor:
    """The SDK's batch processor (its queue bounded at OTEL_BSP_MAX_QUEUE_SIZE, 2,048 by default),
    counting the spans it drops."""
    processor = BatchSpanProcessor(span_exporter)
    processor._batch_processor._metrics = _DropCounter()
    return processor


class FetchSpans(FetchObserver):
    """The numbers side's events as spans: one per fetch, the root of its own trace; and on each
    request's server span, how the request got its total."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer
        self._running: dict[str, trace.Span] = {}
        self._linkable: OrderedDict[str, SpanContext] = OrderedDict()

    def total_requested(self, how: HowAnswered) -> None:
        # Called in the request's context: the current span is its server span.
        trace.get_current_span().set_attribute(ANSWERED, how)

    def fetch_started(self, fetch_id: str, source: str) -> None:
        span = self._tracer.start_span(
            FETCH_SPAN,
            context=otel_context.Context(),  # a root: the fetch is no one request's
            kind=SpanKind.INTERNAL,
            attributes={FETCH_ID: fetch_id, FETCH_SOURCE: source},
        )
        # Current for the rest of the fetch: its context is its own (SingleFlight), so this
        # reaches the backend requests and the fetch's log lines, and ends with the fetch's task.
        otel_context.attach(trace.set_span_in_context(span))
        self._running[fetch_id] = span
        self._linkable[fetch_id] = span.get_span_context()
        while len(self._linkable) > LINKABLE_FETCHES:
            self._linkable.popitem(last=False)

    def fetch_retried(self, fetch_id: str, attempt: int, of: int, error: BackendError) -> None:
        span = self._running.get(fetch_id)
        if span is not None:
            span.add_event("retry", {"attempt": attempt, "of": of, "error.type": error.outcome})

    def fetch_ended(self, report: FetchReport) -> None:
        span = self._running.pop(report.fetch_id, None)
        if span is None:
            return
        span.set_attributes(
            {
                FETCH_OUTCOME: report.outcome,
                FETCH_COUNT: report.count,
                FETCH_ATTEMPTS: report.attempts,
                FETCH_NOT_MODIFIED: report.outcome == "not_modified",
            }
        )
        if report.error is not None:
            span.set_attribute("error.type", report.outcome)
            span.set_status(Status(StatusCode.ERROR, str(report.error)))
        span.end()

    def linkable(self, fetch_id: str) -> SpanContext | None:
        """The span context of fetch `fetch_id`, if it is one of the latest LINKABLE_FETCHES."""
        return self._linkable.get(fetch_id)


class ServerSpans:
    """The app's ASGI callable, tracing: a server span for each request (HTTP semantic
    conventions), continuing the caller's W3C traceparent; probes and scrapes make none.

    Written here, not taken from opentelemetry-instrumentation-asgi: that middleware gathers
    every attribute (each header looked up by a scan of them all) and records its metrics for
    every request, before the sampler decides and whatever it decides; here a request the
    sampler drops costs the decision alone (docs/design.md, "Traces").
    """

    def __init__(self, app: ASGIApp, tracer: trace.Tracer) -> None:
        self._app = app
        self._tracer = tracer

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED:
            await self._app(scope, receive, send)
            return
        method = scope["method"]
        # Named by the method until the route is known (the after-request hook): a scan of
        # random paths must not make a name each.
        span = self._tracer.start_span(
            method, context=_caller(scope), kind=SpanKind.SERVER, attributes={"http.request.method": method}
        )
        with trace.use_span(span, end_on_exit=True):
            if not span.is_recording():
                await self._app(scope, receive, send)
                return
            span.set_attributes(_request_attributes(scope))

            async def send_noting_status(message: ASGISendEvent) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:  # a server span's error (HTTP semantic conventions)
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self._app(scope, receive, send_noting_status)


# The headers of W3C Trace Context, as ASGI names them.
_TRACE_CONTEXT = (b"traceparent", b"tracestate")
_W3C = TraceContextTextMapPropagator()
_ROOT = otel_context.Context()


def _caller(scope: HTTPScope) -> otel_context.Context:
    """The caller's span, as its traceparent names it, or none: the request's span is a root."""
    carrier = {
        name.decode(): value.decode("latin-1") for name, value in scope["headers"] if name in _TRACE_CONTEXT
    }
    return _W3C.extract(carrier, context=_ROOT) if carrier else _ROOT


def _request_attributes(scope: HTTPScope) -> dict[str, str | int]:
    """The request's attributes (HTTP semantic conventions), made for a sampled span only."""
    attributes: dict[str, str | int] = {
        "url.scheme": scope["scheme"],
        "url.path": scope["path"],
        "network.protocol.version": scope["http_version"],
    }
    if scope["query_string"]:
        attributes["url.query"] = scope["query_string"].decode("latin-1")
    # Optional in ASGI: a server on a Unix socket, or a test client, may leave them out.
    server, client = scope.get("server"), scope.get("client")
    if server is not None and server[1] is not None:
        attributes["server.port"] = server[1]
    if client is not None:
        attributes["client.address"] = client[0]
    for name, value in scope["headers"]:
        if name == b"user-agent":
            attributes["user_agent.original"] = value.decode("latin-1")
    return attributes


class Tracing:
    """The tracer provider of one app, its fetch observer, and what they hang on the app."""

    def __init__(self, config: Config) -> None:
        # The SDK adds a service.instance.id of its own to each process's; the host (a pod's
        # name in Kubernetes) and the pid tell instances and their workers apart as people do.
        resource = Resource.create(
            {
                "service.name": config.otel_service_name,
                "host.name": socket.gethostname(),
                "process.pid": os.getpid(),
            }
        )
        # No exit hook of the SDK's: its flush waits up to 30 s; the serving hook bounds it.
        self.provider = TracerProvider(sampler=sampler(config), resource=resource, shutdown_on_exit=False)
        self.provider.add_span_processor(batch_processor(exporter(config)))
        self.tracer = self.provider.get_tracer(__name__)
        self.spans = FetchSpans(self.tracer)

    def init_app(self, app: Quart) -> None:
        app.asgi_app = ServerSpans(app.asgi_app, self.tracer)  # type: ignore[method-assign]
        app.after_request(self._name_and_link)
        app.while_serving(self._serving)

    async def _name_and_link(self, response: Response) -> Response:
        """The server span named by its route; a /total answer's linked to the fetch it names."""
        span = trace.get_current_span()
        if not span.is_recording():
            return response
        route = record_of(request).route
        if route != UNMATCHED:
            span.update_name(f"{request.method} {route}")
            span.set_attribute("http.route", route)
        if route == TOTAL_ROUTE and (fetch_id := response.headers.get(FETCH_HEADER)):
            fetch = self.spans.linkable(fetch_id)
            if fetch is not None:
                span.add_link(fetch)
        return response

    async def _serving(self) -> AsyncGenerator[None, None]:
        # Sessions made from now on (the backend's, in its own serving hook) trace their requests.
        instrumentor = AioHttpClientInstrumentor()
        instrumentor.instrument(tracer_provider=self.provider)
        yield
        instrumentor.uninstrument()
        # The SDK's shutdown exports what is queued and may wait on the collector for long:
        # in a thread of its own, given FLUSH_SECONDS; a process exiting does not wait for it.
        flush = threading.Thread(target=self.provider.shutdown, name="trace-flush", daemon=True)
        flush.start()
        await asyncio.to_thread(flush.join, FLUSH_SECONDS)


def init_app(app: Quart, config: Config) -> FetchSpans:
    """Trace `app`'s requests and fetches as `config` says; the observer of the fetches."""
    tracing = Tracing(config)
    tracing.init_app(app)
    app.extensions["total_service.tracing"] = tracing
    return tracing.spans
