"""Every error as RFC 9457 `application/problem+json`, mapped in one place; the limits on what
a request may carry, checked before any route runs, over HTTP/1.1 and HTTP/2 alike: no body, at
most MAX_HEADERS headers, a head of at most MAX_HEAD_BYTES; and OPTIONS answered 204 with Allow.

Hypercorn refuses a head longer than it reads at all (`app.serve.HEAD_READ_LIMIT`) before the
app sees it; its own bound on HTTP/1.1 heads held for those that arrive in pieces only (a 40 KB
one in a single read was served).
"""

from __future__ import annotations

import json
from typing import cast

from hypercorn.typing import HTTPScope
from quart import Quart, Response, request
from quart.globals import request_ctx
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter

from app.numbers.errors import BackendError
from app.numbers.fetch import FetchFailedError
from app.numbers.totals import ShuttingDownError
from app.web.request_context import FETCH_HEADER

PROBLEM_JSON = "application/problem+json"
# Apache's default (LimitRequestFields), well above what browsers and HTTP clients send.
MAX_HEADERS = 100
# The request line and headers, counted as HTTP/1.1 writes them (`name: value` and a line end
# each) whichever protocol carried them: far more than a request for this API needs.
MAX_HEAD_BYTES = 16 * 1024
# The request line but for its method and target: ` ` `?` ` HTTP/1.1` and a line end.
_LINE_OVERHEAD = 14


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


def _head_of(scope: HTTPScope) -> tuple[int, int]:
    """The request's header count and its head's size in bytes (MAX_HEAD_BYTES)."""
    # The headers as received: Quart's request.headers adds one of its own (Remote-Addr).
    count, size = 0, len(scope["method"]) + len(scope["raw_path"]) + len(scope["query_string"])
    for name, value in scope["headers"]:
        count += 1
        size += len(name) + len(value) + 4
    return count, size + _LINE_OVERHEAD


async def _check_request() -> Response | None:
    # The refusals say Connection: close: the server cannot read the next request on an
    # HTTP/1.1 connection before the rest of this one, which it does not read. HTTP/2 has no
    # such header (Hypercorn leaves it out) and resets the stream instead (app.protocols).
    count, size = _head_of(cast(HTTPScope, request.scope))  # before_request runs for HTTP only
    if count > MAX_HEADERS or size > MAX_HEAD_BYTES:
        detail = (
            f"a request may have at most {MAX_HEADERS} headers"
            if count > MAX_HEADERS
            else f"a request's line and headers may take at most {MAX_HEAD_BYTES} bytes"
        )
        return problem(431, "Request Header Fields Too Large", detail, {"Connection": "close"})
    if request.content_length or "Transfer-Encoding" in request.headers:
        # A path or a method that no route takes is that error whatever the body: 404, or
        # 405 with Allow, as every mainstream server answers; 413 is for what a route takes.
        if isinstance(request.routing_exception, HTTPException):
            return http_problem(request.routing_exception, {"Connection": "close"})
        return problem(
            413, "Content Too Large", "no route of this service takes a request body", {"Connection": "close"}
        )
    return None


async def _options() -> Response:
    """OPTIONS on a path: 204 with the methods it takes in Allow.

    OPTIONS is one of those methods, so a 405 would contradict its own Allow; and the answer
    has no content to describe (Quart's own answer was a 200 with an empty text/html body)."""
    # Quart's own answer reads the methods where this does; the adapter is there for every request.
    methods = cast(MapAdapter, request_ctx.url_adapter).allowed_methods()
    response = Response(status=204, headers={"Allow": ", ".join(sorted(methods))})
    del response.headers["Content-Type"]
    return response


def init_app(app: Quart) -> None:
    """Refuse what no route takes before any route runs; answer every error as problem+json,
    and OPTIONS with 204."""
    app.before_request(_check_request)
    app.make_default_options_response = _options  # type: ignore[method-assign]
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(BackendError, _backend_error)
    app.register_error_handler(FetchFailedError, _fetch_failed)
    app.register_error_handler(ShuttingDownError, _shutting_down)
