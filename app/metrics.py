"""What the service measures, as Prometheus metrics in prometheus-client's default registry.

The registry also holds prometheus-client's process and platform collectors (CPU, memory,
open file descriptors, start time). /metrics (app.telemetry) exposes it.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from werkzeug.routing import Rule

# /total answers about one backend delay (1 s by default) after the fetch starts, and
# slower only by what the service adds: the buckets split 1.0 s from 1.05 s from 1.3 s,
# and the fast routes (/healthz, /metrics, refusals) fall in the milliseconds below.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75,
    1.0, 1.025, 1.05, 1.1, 1.2, 1.3, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0,
)  # fmt: skip
# A healthy loop is late by well under a millisecond; a parse that held it shows as 10 ms
# and more.
LOOP_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

# The route is the rule that matched (`/total`), never the raw path, so that a scan of
# random URLs adds no series: every path no rule matches is `UNMATCHED`.
UNMATCHED = "unmatched"


def route_of(rule: Rule | None) -> str:
    """The `route` label (and access-log field) of a request that matched `rule`."""
    return rule.rule if rule is not None else UNMATCHED


REQUESTS = Counter("http_requests", "HTTP requests answered by the service", ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival at the app to its response",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
FETCHES = Counter(
    "numbers_backend_fetches",
    "Fetches from the numbers backend, by outcome: ok, bad_data, bad_status, unreachable, timeout",
    ["outcome"],
)
FETCH_SECONDS = Histogram(
    "numbers_backend_fetch_duration_seconds",
    "Time from a fetch's start to its total, or to its failure",
    buckets=LATENCY_BUCKETS,
)
RETRIES = Counter("numbers_backend_retries", "Requests to the numbers backend made again after a failure")
NUMBERS_SUMMED = Counter("numbers_summed", "Numbers summed, over every successful fetch")
BREAKER_OPEN = Gauge(
    "numbers_backend_breaker_open", "1 while the circuit breaker answers 503 for the backend"
)
TOTAL_REQUESTS = Counter(
    "total_requests_by_fetch",
    "Requests for /total that started a fetch, or joined one already running (single flight)",
    ["fetch"],
)
TOTAL_WAITING = Gauge("total_requests_waiting", "Requests for /total waiting for a fetch now")
LOOP_LAG = Histogram(
    "event_loop_lag_seconds",
    "How late a periodic timer fires on the event loop: the time the loop was held",
    buckets=LOOP_LAG_BUCKETS,
)
TASKS = Gauge("asyncio_tasks", "Tasks on the event loop")
