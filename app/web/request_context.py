"""What the service knows of each request for its logs and metrics: its id, its route, when it began.

X-Request-ID: a well-formed id a client sends is kept, otherwise one is made; it is echoed
on every response and named in every log line about the request. The record is made once,
before any other hook, and kept in the ASGI scope: the metrics read it after the answer, and
Hypercorn's access logger, which runs outside the request's context, reads it there too,
with the fetch that answered the request from the response's X-Fetch-ID header.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import structlog
from quart import Quart, Request, Response, request
from werkzeug.routing import Rule

HEADER = "X-Request-ID"
# The fetch whose total or failure answered the request (/total only).
FETCH_HEADER = "X-Fetch-ID"
_HEADER_NAME = HEADER.lower().encode()
RECORD = "total_service.request"  # a key of ours in the ASGI scope, beside ASGI's own
_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{1,128}")
# The route is the rule that matched (`/total`), never the raw path, so that a scan of
# random URLs adds no metric series: every path no rule matches is UNMATCHED.
UNMATCHED = "unmatched"


@dataclass(frozen=True)
class RequestRecord:
    request_id: str
    route: str
    # time.perf_counter() when the app began the request.
    started: float


def route_of(rule: Rule | None) -> str:
    return rule.rule if rule is not None else UNMATCHED


def record_of(current: Request) -> RequestRecord:
    """The record `begin` made of the request."""
    record: RequestRecord = cast(dict[str, Any], current.scope)[RECORD]
    return record


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str:
    """The first value of header `name` as received (ASGI names are lower case), or "".

    Read from the scope: werkzeug's `Headers.get` raises and catches a KeyError for a header
    that is not there, as this one mostly is, and took 2% of a `/healthz`'s CPU."""
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""


async def _begin() -> None:
    started = time.perf_counter()
    given = _header(request.scope["headers"], _HEADER_NAME)
    # 128 random bits in hex, as uuid4().hex gives less cheaply (docs/design.md).
    request_id = given if _WELL_FORMED.fullmatch(given) else os.urandom(16).hex()
    record = RequestRecord(request_id, route_of(request.url_rule), started)
    cast(dict[str, Any], request.scope)[RECORD] = record
    structlog.contextvars.bind_contextvars(request_id=request_id)


async def _echo_id(response: Response) -> Response:
    response.headers[HEADER] = record_of(request).request_id
    return response


def init_app(app: Quart) -> None:
    """Give every request its record first, and echo its id on every response."""
    app.before_request(_begin)
    app.after_request(_echo_id)
