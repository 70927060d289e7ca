"""The baseline, written the obvious way: the numbers as a list, sum() on the event loop."""

from __future__ import annotations

import asyncio
import os

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

COUNT = 10_000_001

NUMBERS = list(range(COUNT))

app = Quart(__name__)


@app.get("/total")
async def total() -> dict[str, int]:
    await asyncio.sleep(1)
    return {"total": sum(NUMBERS)}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    config = Config()
    config.bind = [f"{os.environ['HOST']}:{os.environ['PORT']}"]
    asyncio.run(serve(app, config))
