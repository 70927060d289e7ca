"""The `total` blueprint: GET /total, answered by the app's `Totals`."""

from __future__ import annotations

import time

from quart import Blueprint, Quart, Response, current_app

from app.numbers import wide_integers
from app.numbers.errors import BackendError
from app.numbers.totals import Totals
from app.web import docs, request_ids

blueprint = Blueprint("total", __name__)


def install(app: Quart, totals: Totals) -> None:
    """Give `app` the totals it answers from; their source is open while the app serves."""
    app.extensions["totals"] = totals
    app.before_serving(totals.source.open)
    app.after_serving(totals.source.close)


def totals_of(app: Quart) -> Totals:
    totals: Totals = app.extensions["totals"]
    return totals


@blueprint.get("/total")
@docs.documented(docs.Total, 502, 503, 504, headers=docs.TotalHeaders)
async def get_total() -> Response:
    """The exact sum of the backend's numbers, as `{"total": <sum>}`.

    Server-Timing tells how long this request waited for its fetch, how long the fetch
    spent adding numbers up, and whether the request started the fetch or joined it.
    """
    started = time.perf_counter()
    try:
        fetched, joined = await totals_of(current_app).current()
    except BackendError as error:
        request_ids.log_fields()["fetch_id"] = error.fetch_id
        raise
    waited = time.perf_counter() - started
    request_ids.log_fields()["fetch_id"] = fetched.fetch_id
    total = fetched.total
    # Written here rather than by the JSON encoder, which cannot write an int of more than
    # 4,300 digits; a float's repr is its shortest JSON form.
    text = repr(total) if isinstance(total, float) else wide_integers.to_text(total)
    timing = (
        f"wait;dur={waited * 1000:.1f}, sum;dur={fetched.summing * 1000:.1f}, "
        f"fetch;desc={'joined' if joined else 'started'}"
    )
    return Response(
        f'{{"total":{text}}}\n', content_type="application/json", headers={"Server-Timing": timing}
    )
