"""The total-service dashboard for Grafana, as code (grafanalib).

    .venv/bin/python deploy/grafana/dashboard.py           # writes dashboards/total-service.json
    .venv/bin/python deploy/grafana/dashboard.py --check   # exit 1 if that file is not what this writes

Every query uses only the metrics and labels the service exports, filtered by the `instance`
variable; tests/prometheus/test_dashboard.py runs each one against a real Prometheus.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import attr
from grafanalib._gen import write_dashboard  # type: ignore[import-untyped]
from grafanalib.core import (  # type: ignore[import-untyped]
    Dashboard,
    GridPos,
    RowPanel,
    Stat,
    StateTimeline,
    Target,
    Template,
    Templating,
    Time,
    TimeSeries,
)

OUTPUT = Path(__file__).resolve().parent / "dashboards" / "total-service.json"
UID = "total-service"
# The schema of Grafana 10.4 and 11.0; later versions upgrade it as they load the dashboard.
SCHEMA_VERSION = 39
# Every panel and query reads the data source the `datasource` variable names.
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
INSTANCE = 'instance=~"$instance"'
FIVE_XX = 'status=~"5.."'
QUANTILES = (0.5, 0.9, 0.99)
# The grid is 24 columns wide.
COLUMNS = 24


def select(metric: str, *matchers: str) -> str:
    """`metric` on the instances the dashboard shows, with `matchers`."""
    return f"{metric}{{{','.join((INSTANCE, *matchers))}}}"


def equals(label: str, value: str) -> str:
    return f'{label}="{value}"'


def rate(metric: str, *matchers: str) -> str:
    return f"rate({select(metric, *matchers)}[$__rate_interval])"


def share_5xx(by: str, *matchers: str) -> str:
    """The share of requests answered 5xx; 0, not nothing, while no request failed."""
    grouping = f" by ({by}) " if by else ""
    failed = f"sum{grouping}({rate('http_requests_total', FIVE_XX, *matchers)})"
    answered = f"sum{grouping}({rate('http_requests_total', *matchers)})"
    return f"({failed} or {answered} * 0) / {answered}"


def quantiles(metric: str, *matchers: str) -> list[tuple[str, str]]:
    """p50, p90 and p99 of the histogram `metric`, per instance."""
    buckets = f"sum by (instance, le) ({rate(metric + '_bucket', *matchers)})"
    return [(f"histogram_quantile({q}, {buckets})", f"p{round(q * 100)} {{{{instance}}}}") for q in QUANTILES]


def targets(queries: list[tuple[str, str]]) -> list[Any]:
    """A target per (expression, legend), with refIds A, B, ..."""
    return [
        Target(
            expr=expr, legendFormat=legend, refId=chr(ord("A") + n), datasource=DATASOURCE, intervalFactor=1
        )
        for n, (expr, legend) in enumerate(queries)
    ]


def series(title: str, description: str, queries: list[tuple[str, str]], unit: str, **options: Any) -> Any:
    return TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=targets(queries),
        unit=unit,
        tooltipMode="multi",
        tooltipSort="desc",
        **options,
    )


def stat(title: str, description: str, expr: str, unit: str, thresholds: list[dict[str, Any]]) -> Any:
    return Stat(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=targets([(expr, "")]),
        format=unit,
        reduceCalc="lastNotNull",
        color={"mode": "thresholds"},
        colorMode="background",
        noValue="no data",
        thresholds=thresholds,
    )


def steps(*colours: tuple[str, float | None]) -> list[dict[str, Any]]:
    """Threshold steps as Grafana writes them: the first from minus infinity (value null)."""
    return [{"color": colour, "value": value} for colour, value in colours]


def overview() -> list[Any]:
    return [
        stat(
            "Instances up",
            "Instances Prometheus scraped successfully at its latest scrape.",
            f"sum({select('up')})",
            "none",
            steps(("red", None), ("green", 1)),
        ),
        stat(
            "Requests",
            "Requests answered per second, every route, every instance.",
            f"sum({rate('http_requests_total')})",
            "reqps",
            steps(("blue", None)),
        ),
        stat(
            "/total answered 5xx",
            "Share of /total requests answered 5xx (alert TotalServiceHigh5xxRatio: above 5% for 5 minutes).",
            share_5xx("", equals("route", "/total")),
            "percentunit",
            steps(("green", None), ("red", 0.05)),
        ),
        stat(
            "Breakers open",
            "Instances whose circuit breaker answers 503 for the backend now.",
            f"sum({select('numbers_backend_breaker_open')})",
            "none",
            steps(("green", None), ("red", 1)),
        ),
    ]


def requests() -> list[Any]:
    return [
        series(
            "Request rate by route",
            "Requests answered per second. `unmatched`: paths no route matches (404) and methods "
            "a route does not take (405).",
            [(f"sum by (instance, route) ({rate('http_requests_total')})", "{{instance}} {{route}}")],
            "reqps",
        ),
        series(
            "Responses by status",
            "Requests answered per second, by HTTP status.",
            [(f"sum by (instance, status) ({rate('http_requests_total')})", "{{instance}} {{status}}")],
            "reqps",
        ),
        series(
            "5xx share by route",
            "Share of each route's requests answered 5xx: 502 and 504 from the backend, 503 from "
            "the breaker or a shutdown, 500 from the service.",
            [(share_5xx("instance, route"), "{{instance}} {{route}}")],
            "percentunit",
            valueMin=0,
        ),
    ]


def total() -> list[Any]:
    started, joined, fresh, stale = (
        f"sum by (instance) ({rate('total_requests_by_fetch_total', equals('fetch', how))})"
        for how in ("started", "joined", "fresh", "stale")
    )
    return [
        series(
            "/total latency",
            "From a request's arrival to its response, every status: about one backend delay "
            "when the request waits for a fetch.",
            quantiles("http_request_duration_seconds", equals("route", "/total")),
            "s",
        ),
        series(
            "Single flight: fetches started and joined",
            "/total requests per second that started a fetch, or joined one already running.",
            [(started, "{{instance}} started"), (joined, "{{instance}} joined")],
            "reqps",
        ),
        series(
            "Freshness: fresh and stale answers",
            "/total requests per second answered at once from a recent total (TOTAL_MAX_AGE), or "
            "from the previous one while a refresh runs (TOTAL_STALE_WHILE_REVALIDATE).",
            [(fresh, "{{instance}} fresh"), (stale, "{{instance}} stale")],
            "reqps",
        ),
        series(
            "Requests waiting for a fetch",
            "/total requests waiting for a fetch now.",
            [(f"sum by (instance) ({select('total_requests_waiting')})", "{{instance}}")],
            "none",
        ),
    ]


def fetches() -> list[Any]:
    return [
        series(
            "Fetches by outcome, and retries",
            "Backend fetches per second by outcome (ok, not_modified, bad_data, bad_status, "
            "unreachable, timeout), and requests to the backend made again after a failure.",
            [
                (
                    f"sum by (instance, outcome) ({rate('numbers_backend_fetches_total')})",
                    "{{instance}} {{outcome}}",
                ),
                (f"sum by (instance) ({rate('numbers_backend_retries_total')})", "{{instance}} retries"),
            ],
            "ops",
        ),
        series(
            "Fetch duration",
            "From a fetch's start to its total or its failure (alert TotalServiceSlowFetches: "
            "p90 above 3 s).",
            quantiles("numbers_backend_fetch_duration_seconds"),
            "s",
        ),
        StateTimeline(
            title="Circuit breaker",
            description="Open: the backend failed NUMBERS_API_BREAKER_FAILURES fetches in a row, and "
            "/total answers 503 at once (alert TotalServiceBackendFailing).",
            dataSource=DATASOURCE,
            targets=targets(
                [(f"max by (instance) ({select('numbers_backend_breaker_open')})", "{{instance}}")]
            ),
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "closed", "color": "green", "index": 0},
                        "1": {"text": "open", "color": "red", "index": 1},
                    },
                }
            ],
            thresholds=steps(("green", None), ("red", 1)),
        ),
    ]


def process() -> list[Any]:
    return [
        series(
            "Event-loop lag",
            "How late a 100 ms timer fires: anything holding the loop delays every request of the "
            "instance (alert TotalServiceEventLoopLag: p99 above 100 ms).",
            quantiles("event_loop_lag_seconds"),
            "s",
        ),
        series(
            "CPU",
            "CPU seconds per second (1 = one core).",
            [(f"sum by (instance) ({rate('process_cpu_seconds_total')})", "{{instance}}")],
            "percentunit",
        ),
        series(
            "Resident memory",
            "Resident set size (the containers have 256 MiB).",
            [(f"sum by (instance) ({select('process_resident_memory_bytes')})", "{{instance}}")],
            "bytes",
        ),
        series(
            "Open file descriptors",
            "Sockets (clients, the backend) and files open.",
            [(f"sum by (instance) ({select('process_open_fds')})", "{{instance}}")],
            "none",
        ),
    ]


def layout(rows: list[tuple[str, int, list[Any]]]) -> list[Any]:
    """A row panel for each (title, height, panels), then its panels side by side."""
    placed: list[Any] = []
    y = 0
    for title, height, panels in rows:
        placed.append(RowPanel(title=title, gridPos=GridPos(h=1, w=COLUMNS, x=0, y=y)))
        y += 1
        width = COLUMNS // len(panels)
        placed += [
            attr.evolve(panel, gridPos=GridPos(h=height, w=width, x=n * width, y=y))
            for n, panel in enumerate(panels)
        ]
        y += height
    return placed


def dashboard() -> Any:
    datasource = Template(
        name="datasource", label="Data source", type="datasource", query="prometheus", default="default"
    )
    instance = Template(
        name="instance",
        label="Instance",
        dataSource=DATASOURCE,
        # A gauge every instance exports from its start, and no other service does.
        query="label_values(numbers_backend_breaker_open, instance)",
        includeAll=True,
        multi=True,
        default="$__all",
        refresh=2,  # on time range change: instances come and go
    )
    return Dashboard(
        title="total-service",
        uid=UID,
        description="Requests, /total latency, backend fetches, the breaker, single flight, "
        "freshness and the process, per instance (deploy/grafana/dashboard.py).",
        tags=["total-service"],
        timezone="browser",
        time=Time("now-1h", "now"),
        refresh="30s",
        graphTooltip=1,  # a shared crosshair
        schemaVersion=SCHEMA_VERSION,
        templating=Templating(list=[datasource, instance]),
        panels=layout(
            [
                ("Overview", 4, overview()),
                ("Requests", 8, requests()),
                ("/total", 8, total()),
                ("Backend fetches", 8, fetches()),
                ("Process", 8, process()),
            ]
        ),
    ).auto_panel_ids()


def render() -> str:
    """The dashboard's JSON, as Grafana imports it and as OUTPUT holds it."""
    stream = io.StringIO()
    write_dashboard(dashboard(), stream)
    return stream.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 if {OUTPUT.name} differs from what this writes"
    )
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUTPUT.is_file() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is out of date: run {sys.argv[0]}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
