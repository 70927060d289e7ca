"""The service's lifecycle in one object: its totals, the backend source open while it serves,
readiness, the drain and the stop. `app.serve` calls `drain()` and `stop()`; routes read it."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from quart import Quart

from app.numbers.totals import Totals

_EXTENSION = "total_service"


class Service:
    def __init__(self, totals: Totals) -> None:
        self.totals = totals
        # False from the drain on: /readyz answers 503 while every request is still served.
        self.ready = True

    def init_app(self, app: Quart) -> None:
        app.extensions[_EXTENSION] = self
        app.while_serving(self._serving)

    async def _serving(self) -> AsyncGenerator[None, None]:
        # The source's HTTP session and its connection pool live as long as the server serves.
        await self.totals.source.open()
        yield
        await self.totals.source.close()

    def drain(self) -> None:
        """Fail readiness from now on, so that load balancers take the instance out of rotation."""
        self.ready = False

    def stop(self) -> None:
        """Answer requests still waiting for a fetch, and every later one, with 503."""
        self.totals.stop()


def service_of(app: Quart) -> Service:
    service: Service = app.extensions[_EXTENSION]
    return service
