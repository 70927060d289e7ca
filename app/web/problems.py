"""Every error as RFC 9457 `application/problem+json`, mapped in one place, and the limits on
what a request may carry, checked before any route runs: no body, at most MAX_HEADERS headers.

Hypercorn bounds the request line and headers together (`h11_max_incomplete_size`, see
`app.serve`); these are the limits it has no setting for.
"""

from __future__ import annotations

import json

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from app.numbers.errors import BackendError
from app.numbers.fetch import FetchFailedError
from app.numbers.totals import ShuttingDownError
from app.web.request_context import FETCH_HEADER

PROBLEM_JSON = "application/problem+json"
# Apache's default (LimitRequestFields), well above what browsers and HTTP clients send.
MAX_HEADERS = 100


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(json.dumps(body), status=status, headers=headers, content_type=PROBLEM_JSON)


def http_problem(error: HTTPException, headers: dict[str, str] | None = None) -> Response:
    """Werkzeug's `error` as problem+json, with `headers` besides its own."""
    # Werkzeug's own headers carry what the status needs, such as Allow on a 405.
    own = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    # An unexpected exception reaches here as a 500 whose traceback Quart has already
    # logged; the client gets only the generic description.
    return problem(error.code or 500, error.name, error.description or "", {**own, **(headers or {})})


def backend_problem(error: BackendError, headers: dict[str, str] | None = None) -> Response:
    return problem(error.status, error.title, str(error), {**error.headers, **(headers or {})})


async def _http_error(error: HTTPException) -> Response:
    return http_problem(error)


async def _backend_error(error: BackendError) -> Response:
    return backend_problem(error)


async def _fetch_failed(failed: FetchFailedError) -> Response:
    return backend_problem(failed.error, {FETCH_HEADER: failed.report.fetch_id})


async def _shutting_down(error: ShuttingDownError) -> Response:
    # Another instance, or this one restarted, can answer the retry.
    return problem(503, "Service shutting down", str(error), {"Retry-After": "1"})


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
    """Refuse what no route takes before any route runs; answer every error as problem+json."""
    app.before_request(_check_request)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(BackendError, _backend_error)
    app.register_error_handler(FetchFailedError, _fetch_failed)
    app.register_error_handler(ShuttingDownError, _shutting_down)
