"""What the HTTP side measures, as Prometheus metrics in prometheus-client's default registry.

The registry also holds app.numbers.metrics and prometheus-client's process and platform
collectors (CPU, memory, open file descriptors, start time). /metrics (app.web.telemetry)
exposes it.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from werkzeug.routing import Rule

from app.numbers.metrics import LATENCY_BUCKETS

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
LOOP_LAG = Histogram(
    "event_loop_lag_seconds",
    "How late a periodic timer fires on the event loop: the time the loop was held",
    buckets=LOOP_LAG_BUCKETS,
)
TASKS = Gauge("asyncio_tasks", "Tasks on the event loop")
