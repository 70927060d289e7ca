"""The `health` blueprint: liveness and readiness for platforms and load balancers, never
touching the backend."""

from __future__ import annotations

from quart import Blueprint, Response, current_app

from app.web import docs
from app.web.problems import problem
from app.web.service import service_of

blueprint = Blueprint("health", __name__)
# Constant answers, made once rather than serialised per request.
OK = b'{"status":"ok"}\n'
READY = b'{"status":"ready"}\n'


@blueprint.get("/healthz")
@docs.documented(docs.Health)
async def healthz() -> Response:
    """Liveness: the service answers; the backend is not asked."""
    return Response(OK, content_type="application/json")


@blueprint.get("/readyz")
@docs.documented(docs.Ready, 503)
async def readyz() -> Response:
    """Readiness: 200 while the instance takes traffic, 503 once it drains before shutting down."""
    if not service_of(current_app).ready:
        return problem(
            503,
            "Draining",
            "the instance is shutting down: send requests to another one",
            {"Retry-After": "1"},
        )
    return Response(READY, content_type="application/json")
