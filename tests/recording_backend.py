"""A numbers backend that records the `traceparent` of every request it gets: in the tests'
event loop (`recording_backend`), or as a process (`python -m tests.recording_backend --port N`).

`GET /numbers` answers `[1,2,3]` with an ETag (304 to an If-None-Match naming it), or, with
`?status=N`, an empty answer of that status; with `?delay=S`, after S seconds; with
`?body_delay=S`, its headers at once and its body S seconds later. `GET /seen` lists the
`traceparent` of every /numbers request so far (null where there was none).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from tests.processes import LOOPBACK

NUMBERS = b"[1,2,3]"
TOTAL = 6
ETAG = '"v1"'
SEEN = web.AppKey("seen", list[str | None])
# When each body began to be sent (time.time_ns(), the clock spans are timed by).
BODIES = web.AppKey("bodies", list[int])


@dataclass
class Recording:
    """The backend's /numbers URL, the traceparent of each request, when each body was sent."""

    url: str
    seen: list[str | None]
    bodies: list[int]


async def _numbers(request: web.Request) -> web.StreamResponse:
    request.app[SEEN].append(request.headers.get("traceparent"))
    await asyncio.sleep(float(request.query.get("delay", 0)))
    if "status" in request.query:
        return web.Response(status=int(request.query["status"]))
    if request.headers.get("If-None-Match") == ETAG:
        return web.Response(status=304, headers={"ETag": ETAG})
    response = web.StreamResponse(headers={"Content-Type": "application/json", "ETag": ETAG})
    await response.prepare(request)
    await asyncio.sleep(float(request.query.get("body_delay", 0)))
    request.app[BODIES].append(time.time_ns())
    await response.write(NUMBERS)
    await response.write_eof()
    return response


async def _seen(request: web.Request) -> web.Response:
    return web.json_response(request.app[SEEN])


def make_app() -> web.Application:
    app = web.Application()
    app[SEEN] = []
    app[BODIES] = []
    app.router.add_get("/numbers", _numbers)
    app.router.add_get("/seen", _seen)
    return app


@asynccontextmanager
async def recording_backend() -> AsyncIterator[Recording]:
    """The backend on a loopback port in this event loop, and what it records."""
    app = make_app()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Recording(f"http://{LOOPBACK}:{port}/numbers", app[SEEN], app[BODIES])
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.recording_backend")
    parser.add_argument("--port", type=int, required=True)
    web.run_app(make_app(), host=LOOPBACK, port=parser.parse_args().port, print=None)


if __name__ == "__main__":
    main()
