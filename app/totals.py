"""The total of the backend's numbers, fetched once for all concurrent requests."""

from __future__ import annotations

import asyncio
import logging
import time

from quart import Quart

from app.exact_sum import ExactSum, Number
from app.numbers_api import NumbersSource
from app.single_flight import SingleFlight

log = logging.getLogger(__name__)

# While summing, hand the event loop back at least this often: chunks may be ready
# without waiting on I/O, and other requests must not wait for a whole fetch.
YIELD_INTERVAL = 0.001


class Totals:
    """Computes totals from `source`; requests that overlap a fetch share it."""

    def __init__(self, source: NumbersSource) -> None:
        self.source = source
        self._flight = SingleFlight(self._fetch)

    async def current(self) -> Number:
        return await self._flight.run()

    async def _fetch(self) -> Number:
        started = time.perf_counter()
        log.info("fetching numbers from the %s", self.source.description)
        total = ExactSum()
        last_yield = time.perf_counter()
        async for chunk in self.source.chunks():
            total.add(chunk)
            if time.perf_counter() - last_yield > YIELD_INTERVAL:
                await asyncio.sleep(0)
                last_yield = time.perf_counter()
        result = total.result()
        log.info("summed %d numbers in %.3f s", total.count, time.perf_counter() - started)
        return result


def install(app: Quart, source: NumbersSource) -> None:
    """Attach the totals to `app`; the source is open while the app serves."""
    app.extensions["totals"] = Totals(source)
    app.before_serving(source.open)
    app.after_serving(source.close)


def of(app: Quart) -> Totals:
    totals: Totals = app.extensions["totals"]
    return totals
