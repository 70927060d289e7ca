"""X-Request-ID: a well-formed id a client sends is kept, otherwise one is made; it is echoed
on every response and named in every log line about the request.

The access log is written by Hypercorn after the app has answered, outside the request's
context: the app leaves the fields it alone knows (the id, the route, the fetch) in the
ASGI scope under LOG_FIELDS, where the access logger reads them.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, cast

import structlog
from quart import Quart, Response, g, request

from app.web.metrics import route_of

HEADER = "X-Request-ID"
LOG_FIELDS = "total_service.log_fields"
_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{1,128}")


def log_fields() -> dict[str, Any]:
    """The current request's fields for its access-log line; add to them."""
    scope = cast(dict[str, Any], request.scope)  # a key of the service's own, beside ASGI's
    fields: dict[str, Any] = scope.setdefault(LOG_FIELDS, {})
    return fields


async def _assign() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if _WELL_FORMED.fullmatch(given) else uuid.uuid4().hex
    log_fields()["request_id"] = g.request_id
    structlog.contextvars.bind_contextvars(request_id=g.request_id)


async def _echo(response: Response) -> Response:
    response.headers[HEADER] = g.request_id
    log_fields()["route"] = route_of(request.url_rule)
    return response


def install(app: Quart) -> None:
    app.before_request(_assign)
    app.after_request(_echo)
