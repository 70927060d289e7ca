"""Single flight: callers that arrive while a call is running share its result."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Callers are woken one at a time, this many turns of the event loop apart: waking hundreds
# in one turn keeps every other request waiting behind them (docs/design.md, "Paced wake-ups").
TURNS_BETWEEN_WAKE_UPS = 2


class SingleFlight(Generic[T]):
    """Runs `work` at most once at a time; every caller during a run gets that run's result.

    A caller never gets the result of a run that had finished before it called: once a
    run ends, successfully or not, the next caller starts a fresh one.
    """

    def __init__(
        self,
        work: Callable[[], Awaitable[T]],
        patience: float = float("inf"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._work = work
        # Pacing the wake-ups must not keep a caller waiting past `patience` seconds from
        # the run's start (the service's deadline): then the rest are woken at once.
        self._patience = patience
        self._clock = clock
        # The callers of the run in progress; None when no run is in progress.
        self._waiters: list[asyncio.Future[T]] | None = None
        # The latest run's task, held here because the event loop holds tasks only weakly.
        self._running: asyncio.Task[None] | None = None
        # Every caller not answered yet, of the run in progress or of one still waking its callers.
        self._unanswered: set[asyncio.Future[T]] = set()

    @property
    def running(self) -> bool:
        """Whether a run is in progress: a caller now would join it."""
        return self._waiters is not None

    def start(self) -> None:
        """Start a run unless one is in progress, without waiting for it."""
        self._join_or_start()

    async def run(self) -> T:
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._join_or_start().append(waiter)
        self._unanswered.add(waiter)
        try:
            return await waiter
        finally:
            self._unanswered.discard(waiter)

    def _join_or_start(self) -> list[asyncio.Future[T]]:
        """The callers of the run in progress, starting a run if none is."""
        if self._waiters is None:
            self._waiters = []
            # A task of its own: a caller that goes away (a client disconnecting) does
            # not cancel the run the other callers are waiting for.
            # A context of its own, too: the run is no one caller's (its log lines carry no
            # request's id).
            self._running = asyncio.create_task(self._run(self._waiters), context=contextvars.Context())
            self._running.add_done_callback(functools.partial(self._cancel_if_cancelled, self._waiters))
        return self._waiters

    def abandon(self, error: Exception) -> None:
        """Fail every caller not answered yet with `error`, and cancel the latest run."""
        for waiter in self._unanswered:
            if not waiter.done():
                waiter.set_exception(error)
        if self._running is not None:
            self._running.cancel()

    async def _run(self, waiters: list[asyncio.Future[T]]) -> None:
        started = self._clock()
        try:
            result = await self._work()
        except Exception as error:  # every caller gets the failure, whatever it is
            failure: Exception | None = error
        else:
            failure = None
        self._waiters = None
        for waiter in waiters:
            if waiter.done():  # its caller went away
                continue
            if failure is None:
                waiter.set_result(result)
            else:
                waiter.set_exception(failure)
            if self._clock() - started < self._patience:
                for _ in range(TURNS_BETWEEN_WAKE_UPS):
                    await asyncio.sleep(0)

    def _cancel_if_cancelled(self, waiters: list[asyncio.Future[T]], run: asyncio.Task[None]) -> None:
        """A run cancelled (the loop shutting down), even before it started, cancels its callers."""
        if not run.cancelled():
            return
        if self._waiters is waiters:
            self._waiters = None
        for waiter in waiters:
            waiter.cancel()
