"""The `health` blueprint: liveness for platforms, never touching the backend."""

from __future__ import annotations

from quart import Blueprint

from app.web import docs

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
@docs.documented(docs.Health)
async def healthz() -> dict[str, str]:
    """Liveness: the service answers; the backend is not asked."""
    return {"status": "ok"}
