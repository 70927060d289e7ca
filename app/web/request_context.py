"""What the service knows of each request for its logs: its id, its route and its fetch.

X-Request-ID: a well-formed id a client sends is kept, otherwise one is made; it is echoed
on every response and named in every log line about the request. The access log is written
by Hypercorn after the app has answered, outside the request's context: one hook leaves
every field the app alone knows in the ASGI scope under LOG_FIELDS, where the access logger
reads them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any, cast

import structlog
from quart import Quart, Response, g, request
from werkzeug.routing import Rule

HEADER = "X-Request-ID"
_HEADER_NAME = HEADER.lower().encode()
LOG_FIELDS = "total_service.log_fields"
_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{1,128}")
# The route is the rule that matched (`/total`), never the raw path, so that a scan of
# random URLs adds no metric series: every path no rule matches is UNMATCHED.
UNMATCHED = "unmatched"


def route_of(rule: Rule | None) -> str:
    return rule.rule if rule is not None else UNMATCHED


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str:
    """The first value of header `name` as received (ASGI names are lower case), or "".

    Read from the scope: werkzeug's `Headers.get` raises and catches a KeyError for a header
    that is not there, as this one mostly is, and took 2% of a `/healthz`'s CPU."""
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""


async def _begin() -> None:
    given = _header(request.scope["headers"], _HEADER_NAME)
    # 128 random bits in hex, as uuid4().hex gives less cheaply (docs/design.md).
    g.request_id = given if _WELL_FORMED.fullmatch(given) else os.urandom(16).hex()
    g.route = route_of(request.url_rule)
    structlog.contextvars.bind_contextvars(request_id=g.request_id)


async def _end(response: Response) -> Response:
    response.headers[HEADER] = g.request_id
    # The fetch's id and outcome, if the request had a fetch, are set where its answer or
    # error is made.
    fields = {
        "request_id": g.request_id,
        "route": g.route,
        "fetch_id": g.get("fetch_id"),
        "fetch_outcome": g.get("fetch_outcome"),
    }
    cast(dict[str, Any], request.scope)[LOG_FIELDS] = fields  # a key of ours, beside ASGI's
    return response


def init_app(app: Quart) -> None:
    app.before_request(_begin)
    app.after_request(_end)
