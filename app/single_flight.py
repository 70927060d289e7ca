"""Single flight: callers that arrive while a call is running share its result."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Runs `work` at most once at a time; every caller during a run gets that run's result.

    A caller never gets the result of a run that had finished before it called: the
    next caller after a run ends, successfully or not, starts a fresh one.
    """

    def __init__(self, work: Callable[[], Awaitable[T]]) -> None:
        self._work = work
        self._running: asyncio.Task[T] | None = None

    async def run(self) -> T:
        task = self._running
        if task is None or task.done():
            task = asyncio.ensure_future(self._work())
            task.add_done_callback(self._forget)
            self._running = task
        # shield: a caller that goes away (a client disconnecting) must not cancel the
        # run the other callers are waiting for.
        return await asyncio.shield(task)

    def _forget(self, task: asyncio.Task[T]) -> None:
        if self._running is task:
            self._running = None
        if not task.cancelled():
            # Mark a failure as seen even if every caller had gone away.
            task.exception()
