"""The `health` blueprint: liveness for platforms, never touching the backend."""

from __future__ import annotations

from quart import Blueprint

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
