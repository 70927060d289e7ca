"""The `health` blueprint: liveness and readiness for platforms and load balancers, never
touching the backend."""

from __future__ import annotations

from quart import Blueprint, Quart, Response, current_app

from app.web import docs
from app.web.problems import problem

blueprint = Blueprint("health", __name__)

DRAINING = "draining"


def drain(app: Quart) -> None:
    """From now on /readyz answers 503, so that load balancers take the instance out of
    rotation; every request is still served."""
    app.extensions[DRAINING] = True


@blueprint.get("/healthz")
@docs.documented(docs.Health)
async def healthz() -> dict[str, str]:
    """Liveness: the service answers; the backend is not asked."""
    return {"status": "ok"}


@blueprint.get("/readyz")
@docs.documented(docs.Ready, 503)
async def readyz() -> dict[str, str] | Response:
    """Readiness: 200 while the instance takes traffic, 503 once it drains before shutting down."""
    if current_app.extensions.get(DRAINING, False):
        return problem(
            503,
            "Draining",
            "the instance is shutting down: send requests to another one",
            {"Retry-After": "1"},
        )
    return {"status": "ready"}
