"""The service's lifecycle in one object: its totals, readiness, the drain and the stop.
`app.serve` calls `drain()` and `stop()`; the routes read it."""

from __future__ import annotations

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

    def drain(self) -> None:
        """Fail readiness from now on, so that load balancers take the instance out of rotation."""
        self.ready = False

    def stop(self) -> None:
        """Answer requests still waiting for a fetch, and every later one, with 503."""
        self.totals.stop()


def service_of(app: Quart) -> Service:
    service: Service = app.extensions[_EXTENSION]
    return service
