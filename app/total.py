"""The `total` blueprint: GET /total."""

from __future__ import annotations

from quart import Blueprint, Response, current_app

from app import totals, wide_integers

blueprint = Blueprint("total", __name__)


@blueprint.get("/total")
async def get_total() -> Response:
    """The exact sum of the backend's numbers, as `{"total": <sum>}`."""
    total = await totals.of(current_app).current()
    # Written here rather than by the JSON encoder, which cannot write an int of more than
    # 4,300 digits; a float's repr is its shortest JSON form.
    text = repr(total) if isinstance(total, float) else wide_integers.to_text(total)
    return Response(f'{{"total":{text}}}\n', content_type="application/json")
