"""/total's caching headers and conditional requests, with the freshness windows set."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from quart.typing import TestClientProtocol as QuartClient

from app.config import Config
from app.web.factory import create_app
from tests.sources import NumberedSource


@asynccontextmanager
async def serving(config: Config) -> AsyncIterator[QuartClient]:
    app = create_app(config, source=NumberedSource())
    async with app.test_app() as test_app:
        yield test_app.test_client()


WINDOWS = Config(total_max_age=5, total_stale_while_revalidate=10)


async def test_fresh_total_max_age_and_age() -> None:
    """A fresh total says how long it may be reused and how old it is."""
    async with serving(WINDOWS) as client:
        first = await client.get("/total")
        await asyncio.sleep(1.05)
        again = await client.get("/total")
    assert await first.get_json() == await again.get_json() == {"total": 1}
    for response in (first, again):
        assert response.headers["Cache-Control"] == "max-age=5, stale-while-revalidate=10"
    assert (first.headers["Age"], again.headers["Age"]) == ("0", "1")
    assert first.headers["Server-Timing"].endswith("fetch;desc=started")
    assert again.headers["Server-Timing"].endswith("fetch;desc=fresh")
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{24}"', etag)  # strong: no W/ prefix
    assert again.headers["ETag"] == etag


async def test_if_none_match_gets_304() -> None:
    """If-None-Match with the tag gets 304, with no body."""
    async with serving(WINDOWS) as client:
        etag = (await client.get("/total")).headers["ETag"]
        answers = {
            tag: await client.get("/total", headers={"If-None-Match": tag})
            for tag in (etag, f"W/{etag}", f'"other", {etag}', "*", '"other"')
        }
    for tag in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = answers[tag]
        assert (response.status_code, await response.get_data()) == (304, b"")
        assert response.headers["ETag"] == etag
        assert response.headers["Cache-Control"] == "max-age=5, stale-while-revalidate=10"
    assert answers['"other"'].status_code == 200
    assert await answers['"other"'].get_json() == {"total": 1}


async def test_tag_follows_the_total() -> None:
    """The same total has the same tag across instances, and another total another tag."""
    async with serving(WINDOWS) as one, serving(WINDOWS) as other:
        first, same = await one.get("/total"), await other.get("/total")
    async with serving(Config(total_max_age=0.001, total_stale_while_revalidate=0)) as client:
        await client.get("/total")
        await asyncio.sleep(0.01)
        second = await client.get("/total")  # fetch 2: total 2
    assert first.headers["ETag"] == same.headers["ETag"]
    assert await second.get_json() == {"total": 2}
    assert second.headers["ETag"] != first.headers["ETag"]


async def test_no_caching_without_windows() -> None:
    """Without windows, no caching headers, and If-None-Match is ignored."""
    async with serving(Config()) as client:
        response = await client.get("/total", headers={"If-None-Match": "*"})
    assert response.status_code == 200
    assert not {"Cache-Control", "Age", "ETag"} & set(response.headers.keys())
