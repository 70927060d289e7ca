"""The numbers side's metrics: fetches, retries, the breaker and single flight, in
prometheus-client's default registry (app.web.http_metrics holds the HTTP side's and serves
/metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# /total answers about one backend delay (1 s by default) after the fetch starts, and
# slower only by what the service adds: the buckets split 1.0 s from 1.05 s from 1.3 s,
# and the fast routes (/healthz, /metrics, refusals) fall in the milliseconds below.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75,
    1.0, 1.025, 1.05, 1.1, 1.2, 1.3, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0,
)  # fmt: skip

FETCHES = Counter(
    "numbers_backend_fetches",
    "Fetches from the numbers backend, by outcome: "
    "ok, not_modified, bad_data, bad_status, unreachable, timeout",
    ["outcome"],
)
FETCH_SECONDS = Histogram(
    "numbers_backend_fetch_duration_seconds",
    "Time from a fetch's start to its total, or to its failure",
    buckets=LATENCY_BUCKETS,
)
RETRIES = Counter("numbers_backend_retries", "Requests to the numbers backend made again after a failure")
NUMBERS_SUMMED = Counter("numbers_summed", "Numbers summed, over every successful fetch")
# With WORKERS > 1 each worker has its own breaker: the instance's is open if any is.
BREAKER_OPEN = Gauge(
    "numbers_backend_breaker_open",
    "1 while the circuit breaker answers 503 for the backend",
    multiprocess_mode="max",
)
TOTAL_REQUESTS = Counter(
    "total_requests_by_fetch",
    "Requests for /total that started a fetch, joined one already running (single flight), or "
    "were answered at once from a fresh or a stale total (TOTAL_MAX_AGE)",
    ["fetch"],
)
TOTAL_WAITING = Gauge(
    "total_requests_waiting", "Requests for /total waiting for a fetch now", multiprocess_mode="livesum"
)
