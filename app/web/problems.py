"""Every error as RFC 9457 `application/problem+json`, mapped in one place."""

from __future__ import annotations

import json

from quart import Quart, Response, g
from werkzeug.exceptions import HTTPException

from app.numbers.errors import BackendError
from app.numbers.totals import ShuttingDownError

PROBLEM_JSON = "application/problem+json"


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


async def _http_error(error: HTTPException) -> Response:
    return http_problem(error)


async def _backend_error(error: BackendError) -> Response:
    g.fetch_id = error.fetch_id  # for the access log
    return problem(error.status, error.title, str(error), error.headers)


async def _shutting_down(error: ShuttingDownError) -> Response:
    # Another instance, or this one restarted, can answer the retry.
    return problem(503, "Service shutting down", str(error), {"Retry-After": "1"})


def init_app(app: Quart) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(BackendError, _backend_error)
    app.register_error_handler(ShuttingDownError, _shutting_down)
