"""No fetch of a body when the backend's list has not changed: ETag and 304, against a real backend."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from app.config import Config
from app.numbers.breaker import CircuitBreaker
from app.numbers.exact_sum import Chunk, PartialSum
from app.numbers.fetch import FetchFailedError
from app.numbers.numbers_api import Reply, Validator
from app.numbers.pacing import Pacer
from app.numbers.totals import Totals
from app.web.factory import create_app
from tests.processes import ServerProcess, reference_backend


@pytest.fixture
def backend(tmp_path: Any) -> Iterator[ServerProcess]:
    """A backend of its own for each test: the tests change its list."""
    with reference_backend(tmp_path, count=1000) as process:
        yield process


async def totals(url: str, requests: int) -> list[dict[str, Any]]:
    app = create_app(Config(numbers_api_url=url))
    async with app.test_app():
        client = app.test_client()
        return [await (await client.get("/total")).get_json() for _ in range(requests)]


async def stats(backend: ServerProcess, client: str) -> dict[str, int]:
    async with aiohttp.ClientSession() as session, session.get(f"{backend.url}/stats") as response:
        counts: dict[str, int] = (await response.json())[client]
        return counts


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
async def test_unchanged_list_not_fetched(
    backend: ServerProcess, encoding: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The second fetch asks If-None-Match, gets 304 and answers the first's total, no body read."""
    caplog.set_level(logging.INFO, logger="app.numbers")
    answers = await totals(f"{backend.url}/numbers?client=same&encoding={encoding}", 3)
    assert answers == [{"total": 499500}] * 3
    counts = await stats(backend, "same")
    assert (counts["bodies"], counts["not_modified"]) == (1, 2)
    reused = [r for r in caplog.records if getattr(r, "outcome", None) == "not_modified"]
    assert len(reused) == 2


async def test_changed_list_fetched_in_full(backend: ServerProcess) -> None:
    url = f"{backend.url}/numbers?client=changed"
    app = create_app(Config(numbers_api_url=url))
    async with app.test_app(), aiohttp.ClientSession() as session:
        client = app.test_client()
        first = await (await client.get("/total")).get_json()
        async with session.post(f"{backend.url}/count?value=10"):
            pass
        second = await (await client.get("/total")).get_json()
    assert (first, second) == ({"total": 499500}, {"total": 45})
    counts = await stats(backend, "changed")
    assert (counts["bodies"], counts["not_modified"]) == (2, 0)


async def test_no_validator_no_condition(backend: ServerProcess) -> None:
    """A backend that names no version is asked for the whole list every time."""
    answers = await totals(f"{backend.url}/numbers?client=plain&etag=off", 2)
    assert answers == [{"total": 499500}] * 2
    assert (await stats(backend, "plain"))["bodies"] == 2


def test_conditions_from_validators() -> None:
    assert Validator.of({}) is None
    both = Validator.of({"ETag": '"v1"', "Last-Modified": "Tue, 01 Dec 2026 20:00:00 GMT"})
    assert both is not None
    assert both.conditions() == {
        "If-None-Match": '"v1"',
        "If-Modified-Since": "Tue, 01 Dec 2026 20:00:00 GMT",
    }
    assert Validator(None, "Tue, 01 Dec 2026 20:00:00 GMT").conditions() == {
        "If-Modified-Since": "Tue, 01 Dec 2026 20:00:00 GMT"
    }


class VersionedSource:
    """A wide total, version "v1"; every later fetch that names v1 is answered not modified."""

    description = "versioned test backend"

    def __init__(self) -> None:
        self.asked: list[Validator | None] = []

    async def serving(self) -> AsyncGenerator[None, None]:
        yield

    @asynccontextmanager
    async def request(self, known: Validator | None, pacer: Pacer) -> AsyncIterator[Reply]:
        self.asked.append(known)
        yield Reply(known, None) if known is not None else Reply(Validator('"v1"', None), self._wide())

    async def _wide(self) -> AsyncGenerator[Chunk, None]:
        yield PartialSum(integers=10**5000 + 1, count=1)


async def test_304_reuses_total_exactly() -> None:
    """A 304 answers the known version's total, is reported as not_modified, sums nothing."""
    source = VersionedSource()
    numbers = Totals(source, 5.0, CircuitBreaker(threshold=0, cooldown=1.0))
    first = await numbers.current()
    second = await numbers.current()
    assert source.asked == [None, Validator('"v1"', None)]
    assert second.fetched.total == first.fetched.total == 10**5000 + 1
    report = second.fetched.report
    assert (report.outcome, second.fetched.validator) == ("not_modified", Validator('"v1"', None))
    assert (report.count, report.attempts) == (1, 1)
    assert second.fetched.summing_seconds == 0.0
    assert len(report.fetch_id) == 16
    assert report.fetch_id != first.fetched.report.fetch_id


async def test_304_to_no_named_version_is_a_bad_status() -> None:
    """A source that answers not modified when no version was named fails the fetch."""

    class Confused(VersionedSource):
        @asynccontextmanager
        async def request(self, known: Validator | None, pacer: Pacer) -> AsyncIterator[Reply]:
            yield Reply(None, None)

    with pytest.raises(FetchFailedError, match="HTTP 304"):
        await Totals(Confused(), 5.0, CircuitBreaker(threshold=0, cooldown=1.0)).current()
