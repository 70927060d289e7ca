from __future__ import annotations

import asyncio
import contextvars
import itertools

import pytest

from app.numbers.single_flight import TURNS_BETWEEN_WAKE_UPS, SingleFlight

# Stands in for what a request binds for its log lines (its request id).
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


class Work:
    """Counts its runs; each run waits for `release` and returns the run's number."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = asyncio.Event()
        self.fail = False

    async def __call__(self) -> int:
        self.runs += 1
        run = self.runs
        await self.release.wait()
        if self.fail:
            raise ValueError(f"run {run} failed")
        return run


async def started(flight: SingleFlight[int], count: int) -> list[asyncio.Task[int]]:
    tasks = [asyncio.create_task(flight.run()) for _ in range(count)]
    await asyncio.sleep(0)
    return tasks


async def test_callers_during_a_run_share_it() -> None:
    work = Work()
    flight = SingleFlight(work)
    tasks = await started(flight, 500)
    work.release.set()
    assert await asyncio.gather(*tasks) == [1] * 500
    assert work.runs == 1


async def test_run_has_no_caller_context() -> None:
    """A run does not see the context of the caller that started it."""

    async def seen_request_id() -> str:
        return REQUEST_ID.get()

    flight = SingleFlight(seen_request_id)
    REQUEST_ID.set("first caller")
    assert await flight.run() == "none"


async def test_later_caller_starts_new_run() -> None:
    """A caller after a run ends starts a new run."""
    work = Work()
    work.release.set()
    flight = SingleFlight(work)
    assert await flight.run() == 1
    assert await flight.run() == 2


async def test_no_result_from_before_the_call() -> None:
    """A caller never gets a result finished before it called."""
    work = Work()
    work.release.set()
    flight = SingleFlight(work)
    first = asyncio.create_task(flight.run())
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the run has finished; its clean-up may not have run yet
    assert await flight.run() == 2
    assert await first == 1


async def test_failure_reaches_every_caller() -> None:
    """A failure reaches every caller, and the next run is fresh."""
    work = Work()
    work.fail = True
    flight = SingleFlight(work)
    tasks = await started(flight, 3)
    work.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [str(r) for r in results] == ["run 1 failed"] * 3
    work.fail = False
    assert await flight.run() == 2


async def test_leaving_caller_cancels_no_other() -> None:
    """A caller that goes away does not cancel the others."""
    work = Work()
    flight = SingleFlight(work)
    leaving, staying = await started(flight, 2)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    work.release.set()
    assert await staying == 1


@pytest.mark.parametrize("turns_before_cancel", [0, 3])
async def test_cancelled_run_cancels_callers(
    turns_before_cancel: int,
) -> None:
    """A cancelled run cancels its callers, and the next run is fresh."""
    work = Work()
    flight = SingleFlight(work)
    (caller,) = await started(flight, 1)
    for _ in range(turns_before_cancel):  # 0: cancelled before it starts; 3: while it works
        await asyncio.sleep(0)
    running = flight._running
    assert running is not None
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    work.release.set()
    assert await flight.run() == work.runs


async def test_callers_woken_one_at_a_time() -> None:
    """Callers are woken one at a time, not all in one turn."""
    work = Work()
    flight = SingleFlight(work, patience=1.0, clock=lambda: 0.0)  # no time passes
    tasks = await started(flight, 10)
    work.release.set()
    answered_per_turn = []
    while not all(task.done() for task in tasks):
        await asyncio.sleep(0)
        answered_per_turn.append(sum(task.done() for task in tasks))
    # Never more than one more caller answered per loop turn.
    assert all(b - a <= 1 for a, b in itertools.pairwise([0, *answered_per_turn]))
    assert len(answered_per_turn) >= 10 * TURNS_BETWEEN_WAKE_UPS - 1


async def test_woken_at_once_past_patience() -> None:
    """Callers are woken at once when the run has outlasted the patience."""
    now = [0.0]
    work = Work()
    flight = SingleFlight(work, patience=1.0, clock=lambda: now[0])
    tasks = await started(flight, 10)
    await asyncio.sleep(0)  # the run starts, at 0.0
    now[0] = 1.0  # the run took as long as a caller may wait: no more pacing
    work.release.set()
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    # Every caller was answered by the turn after the first one was.
    assert [task.result() for task in tasks] == [1] * 10


async def test_abandon_fails_callers() -> None:
    """abandon() fails every unanswered caller and cancels the run."""
    work = Work()
    flight = SingleFlight(work)
    tasks = await started(flight, 3)
    running = flight._running
    flight.abandon(RuntimeError("shutting down"))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [str(r) for r in results] == ["shutting down"] * 3
    assert running is not None
    assert running.cancelled()


async def test_abandon_reaches_unwoken_callers() -> None:
    """abandon() reaches callers still waiting to be woken."""
    work = Work()
    flight = SingleFlight(work)
    tasks = await started(flight, 10)
    work.release.set()
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)  # the run is waking its callers
    flight.abandon(RuntimeError("shutting down"))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert 1 in results
    assert all(r == 1 or str(r) == "shutting down" for r in results)
    assert not any(isinstance(r, asyncio.CancelledError) for r in results)


async def test_start_runs_without_caller() -> None:
    """start() runs the work with no caller, and a caller during it joins."""
    runs = 0
    release = asyncio.Event()

    async def work() -> int:
        nonlocal runs
        runs += 1
        await release.wait()
        return runs

    flight = SingleFlight(work)
    flight.start()
    flight.start()  # one run at a time
    await asyncio.sleep(0)
    assert (flight.running, runs) == (True, 1)
    joined = asyncio.create_task(flight.run())
    await asyncio.sleep(0)
    release.set()
    assert await joined == 1
    assert not flight.running
