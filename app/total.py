"""The `total` blueprint: GET /total."""

from __future__ import annotations

import time

from quart import Blueprint, Response, current_app

from app import api_docs, request_ids, totals, wide_integers
from app.backend_errors import BackendError

blueprint = Blueprint("total", __name__)


@blueprint.get("/total")
@api_docs.documented(api_docs.Total, 502, 503, 504, headers=api_docs.TotalHeaders)
async def get_total() -> Response:
    """The exact sum of the backend's numbers, as `{"total": <sum>}`.

    Server-Timing tells how long this request waited for its fetch, how long the fetch
    spent adding numbers up, and whether the request started the fetch or joined it.
    """
    started = time.perf_counter()
    try:
        fetched, joined = await totals.of(current_app).current()
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
