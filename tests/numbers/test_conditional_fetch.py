"""No fetch of a body when the backend's list has not changed: ETag and 304, against a real backend."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from app.config import Config
from app.numbers.breaker import CircuitBreaker
from app.numbers.exact_sum import Chunk, PartialSum
from app.numbers.numbers_api import NotModified, Validator
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
    caplog.set_level(logging.INFO, logger="app.numbers.totals")
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
    retried = 0
    validator: Validator | None = None

    def __init__(self) -> None:
        self.asked: list[Validator | None] = []

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def chunks(self, known: Validator | None = None) -> AsyncGenerator[Chunk, None]:
        self.asked.append(known)
        if known is not None:
            raise NotModified
        self.validator = Validator('"v1"', None)
        yield PartialSum(integers=10**5000 + 1, count=1)


async def test_304_reuses_total_exactly(caplog: pytest.LogCaptureFixture) -> None:
    """A 304 answers the known version's total, is counted and logged as not_modified, sums nothing."""
    caplog.set_level(logging.INFO, logger="app.numbers.totals")
    source = VersionedSource()
    numbers = Totals(source, 5.0, CircuitBreaker(threshold=0, cooldown=1.0))
    counted = REGISTRY.get_sample_value("numbers_backend_fetches_total", {"outcome": "not_modified"}) or 0
    first = await numbers.current()
    second = await numbers.current()
    assert source.asked == [None, Validator('"v1"', None)]
    assert second.fetched.total == first.fetched.total == 10**5000 + 1
    assert (second.fetched.outcome, second.fetched.validator) == ("not_modified", Validator('"v1"', None))
    assert second.fetched.summing_seconds == 0.0
    assert len(second.fetched.fetch_id) == 16
    assert second.fetched.fetch_id != first.fetched.fetch_id
    assert (
        REGISTRY.get_sample_value("numbers_backend_fetches_total", {"outcome": "not_modified"}) == counted + 1
    )
    (record,) = [r for r in caplog.records if getattr(r, "outcome", None) == "not_modified"]
    assert record.getMessage().startswith(f"not modified: the total of fetch {first.fetched.fetch_id} after ")
    assert 0 <= record.__dict__["duration"] < 1
    assert record.__dict__["retries"] == 0
