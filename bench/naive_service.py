"""The baseline, written the obvious way, with the same routes as total-service.

Simulated backend: the numbers as a list, sum() on the event loop after the delay.
With NUMBERS_API_URL: read the whole body, json.loads it, sum() the list.
"""

from __future__ import annotations

import asyncio
import json
import os

import aiohttp
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

COUNT = 10_000_001
URL = os.environ.get("NUMBERS_API_URL")
NUMBERS = [] if URL else list(range(COUNT))

app = Quart(__name__)


@app.get("/total")
async def total() -> dict[str, int]:
    if URL:
        async with aiohttp.ClientSession() as session, session.get(URL) as response:
            return {"total": sum(json.loads(await response.read()))}
    await asyncio.sleep(1)
    return {"total": sum(NUMBERS)}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    config = Config()
    config.bind = [f"{os.environ['HOST']}:{os.environ['PORT']}"]
    asyncio.run(serve(app, config))
