"""The `total` blueprint: GET /total, answered by the app's `Totals`."""

from __future__ import annotations

import functools
import hashlib
import time

from quart import Blueprint, Response, current_app, request

from app.numbers import wide_integers
from app.numbers.fetch import Fetched
from app.numbers.freshness import Freshness
from app.web import docs
from app.web.request_context import FETCH_HEADER
from app.web.service import service_of

blueprint = Blueprint("total", __name__)


@blueprint.get("/total")
@docs.documented(docs.Total, 502, 503, 504, headers=docs.TotalHeaders)
async def get_total() -> Response:
    """The exact sum of the backend's numbers, as `{"total": <sum>}`.

    Server-Timing tells how long this request waited for its fetch, how long the fetch
    spent adding numbers up, and whether the request started the fetch, joined it, or got
    a recent total at once (fresh or stale). With TOTAL_MAX_AGE or
    TOTAL_STALE_WHILE_REVALIDATE set, Cache-Control, Age and a strong ETag say how long the
    total may be reused, and If-None-Match with that ETag gets 304 with no body.
    """
    started = time.perf_counter()
    totals = service_of(current_app).totals
    answer = await totals.current()  # a failure is answered by app.web.problems
    waited = time.perf_counter() - started
    fetched = answer.fetched
    body, etag = rendered(fetched)
    headers = {
        "Server-Timing": f"wait;dur={waited * 1000:.1f}, sum;dur={fetched.summing_seconds * 1000:.1f}, "
        f"fetch;desc={answer.how_answered}",
        FETCH_HEADER: fetched.report.fetch_id,
    }
    if not totals.freshness.enabled:
        return Response(body, content_type="application/json", headers=headers)
    headers["Cache-Control"] = cache_control(totals.freshness)
    # With max-age, the seconds the total may still be reused: RFC 9111 counts a response
    # fresh while its Age is below max-age.
    headers["Age"] = str(int(answer.age))
    response = Response(body, content_type="application/json", headers=headers)
    response.set_etag(etag)
    # Parsed only when sent: most requests are not conditional.
    if "If-None-Match" in request.headers and request.if_none_match.contains_weak(etag):
        response.status_code = 304
        response.set_data(b"")
        # A 304's Content-Length, if any, would have to be the 200's (RFC 9110, 8.6).
        del response.content_length
    return response


@functools.lru_cache(maxsize=1)
def rendered(fetched: Fetched) -> tuple[bytes, str]:
    """The body of a total and its ETag, made once per fetch: a wide integer takes
    milliseconds to write, and every request during the freshness windows answers it."""
    total = fetched.total
    # Written here rather than by the JSON encoder, which cannot write an int of more than
    # 4,300 digits; a float's repr is its shortest JSON form.
    text = repr(total) if isinstance(total, float) else wide_integers.to_text(total)
    body = f'{{"total":{text}}}\n'.encode()
    # From the body alone: every instance behind a load balancer gives a total the same tag.
    return body, hashlib.blake2b(body, digest_size=12).hexdigest()


@functools.lru_cache(maxsize=1)
def cache_control(freshness: Freshness) -> str:
    """Whole seconds, rounded down: a cache never reuses a total longer than configured.

    Made once: the windows are the app's settings."""
    directives = [f"max-age={int(freshness.max_age)}"]
    if freshness.stale_while_revalidate > 0:
        directives.append(f"stale-while-revalidate={int(freshness.stale_while_revalidate)}")
    return ", ".join(directives)
