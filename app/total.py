"""The `total` blueprint: GET /total."""

from __future__ import annotations

from quart import Blueprint, current_app

from app import totals

blueprint = Blueprint("total", __name__)


@blueprint.get("/total")
async def get_total() -> dict[str, int | float]:
    """The exact sum of the backend's numbers, as `{"total": <sum>}`."""
    return {"total": await totals.of(current_app).current()}
