"""What a request may carry, checked before any route runs: no body, at most MAX_HEADERS headers.

Hypercorn bounds the request line and headers together (`h11_max_incomplete_size`, see
`app.serve`); these are the limits it has no setting for.
"""

from __future__ import annotations

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from app.web.problems import http_problem, problem

# Apache's default (LimitRequestFields), well above what browsers and HTTP clients send.
MAX_HEADERS = 100


async def _check_request() -> Response | None:
    # Both refusals say Connection: close: the server cannot read the next request on the
    # connection before the rest of this one, which it does not read.
    # The headers as received: Quart's request.headers adds one of its own (Remote-Addr).
    if len(list(request.scope["headers"])) > MAX_HEADERS:
        return problem(
            431,
            "Request Header Fields Too Large",
            f"a request may have at most {MAX_HEADERS} headers",
            {"Connection": "close"},
        )
    if request.content_length or "Transfer-Encoding" in request.headers:
        # A path or a method that no route takes is that error whatever the body: 404, or
        # 405 with Allow, as every mainstream server answers; 413 is for what a route takes.
        if isinstance(request.routing_exception, HTTPException):
            return http_problem(request.routing_exception, {"Connection": "close"})
        return problem(
            413, "Content Too Large", "no route of this service takes a request body", {"Connection": "close"}
        )
    return None


def init_app(app: Quart) -> None:
    app.before_request(_check_request)
