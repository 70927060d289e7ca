"""Single flight: callers that arrive while a call is running share its result."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Callers are woken one at a time, this many turns of the event loop apart. Answering a
# caller costs the server about half a millisecond; waking hundreds in one turn would keep
# every other request (health checks, new connections) waiting behind all of them, and
# even one per turn leaves them little room. Measured with bench/'s probe under 500
# clients: p99 71 ms (max 282 ms) waking all at once, 12 ms one per turn, 9 ms two turns
# apart; under 50 clients, 7.5 ms one per turn, 4.7 ms two turns apart.
TURNS_BETWEEN_WAKE_UPS = 2
# ... but never slower than one caller per WAKE_INTERVAL seconds: when the loop's turns are
# long (hundreds of other requests being served), a caller a turn would make the last of
# 200 callers wait seconds past the fetch (measured: 3.6 s under 200 clients looping on
# instant 503s). Behind that pace, callers are woken without yielding until it is caught up.
WAKE_INTERVAL = 0.0005


class SingleFlight(Generic[T]):
    """Runs `work` at most once at a time; every caller during a run gets that run's result.

    A caller never gets the result of a run that had finished before it called: once a
    run ends, successfully or not, the next caller starts a fresh one.
    """

    def __init__(
        self, work: Callable[[], Awaitable[T]], clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._work = work
        self._clock = clock
        # The callers of the run in progress; None when no run is in progress.
        self._waiters: list[asyncio.Future[T]] | None = None
        # The latest run's task, held here because the event loop holds tasks only weakly.
        self._running: asyncio.Task[None] | None = None
        # Every caller not answered yet, of the run in progress or of one still waking its callers.
        self._unanswered: set[asyncio.Future[T]] = set()

    async def run(self) -> T:
        if self._waiters is None:
            self._waiters = []
            # A task of its own: a caller that goes away (a client disconnecting) does
            # not cancel the run the other callers are waiting for.
            self._running = asyncio.create_task(self._run(self._waiters))
            self._running.add_done_callback(functools.partial(self._cancel_if_cancelled, self._waiters))
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._unanswered.add(waiter)
        try:
            return await waiter
        finally:
            self._unanswered.discard(waiter)

    def abandon(self, error: Exception) -> None:
        """Fail every caller not answered yet with `error`, and cancel the latest run."""
        for waiter in self._unanswered:
            if not waiter.done():
                waiter.set_exception(error)
        if self._running is not None:
            self._running.cancel()

    async def _run(self, waiters: list[asyncio.Future[T]]) -> None:
        try:
            result = await self._work()
        except Exception as error:  # every caller gets the failure, whatever it is
            failure: Exception | None = error
        else:
            failure = None
        self._waiters = None
        started = self._clock()
        for woken, waiter in enumerate(waiters, start=1):
            if waiter.done():  # its caller went away
                continue
            if failure is None:
                waiter.set_result(result)
            else:
                waiter.set_exception(failure)
            if woken * WAKE_INTERVAL >= self._clock() - started:  # on pace: let others run
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
