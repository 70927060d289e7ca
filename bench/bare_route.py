"""The stack's floor: Quart routes on Hypercorn, from the same locked packages as the service,
that answer /total and /healthz with bytes made at start-up and do nothing else (no request
id, limits, metrics or access log). The request path's own work is measured against it.

`python -m bench.bare_route` serves HOST:PORT; /total answers the total of 0..NUMBERS_API_COUNT-1,
as the service's cached /total does.
"""

from __future__ import annotations

import asyncio
import os

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response

COUNT = int(os.environ.get("NUMBERS_API_COUNT", "10000001"))
TOTAL = b'{"total":%d}' % (COUNT * (COUNT - 1) // 2)
HEALTHY = b'{"status":"ok"}'

app = Quart(__name__)


@app.get("/total")
async def total() -> Response:
    return Response(TOTAL, content_type="application/json")


@app.get("/healthz")
async def healthz() -> Response:
    return Response(HEALTHY, content_type="application/json")


if __name__ == "__main__":
    config = Config()
    config.bind = [f"{os.environ['HOST']}:{os.environ['PORT']}"]
    asyncio.run(serve(app, config))
