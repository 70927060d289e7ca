from __future__ import annotations

import asyncio

import pytest

from app.single_flight import SingleFlight


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


async def test_a_caller_after_a_run_ends_starts_a_new_run() -> None:
    work = Work()
    work.release.set()
    flight = SingleFlight(work)
    assert await flight.run() == 1
    assert await flight.run() == 2


async def test_a_caller_never_gets_a_result_finished_before_it_called() -> None:
    work = Work()
    work.release.set()
    flight = SingleFlight(work)
    first = asyncio.create_task(flight.run())
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the run has finished; its clean-up may not have run yet
    assert await flight.run() == 2
    assert await first == 1


async def test_a_failure_reaches_every_caller_and_the_next_run_is_fresh() -> None:
    work = Work()
    work.fail = True
    flight = SingleFlight(work)
    tasks = await started(flight, 3)
    work.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [str(r) for r in results] == ["run 1 failed"] * 3
    work.fail = False
    assert await flight.run() == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_others() -> None:
    work = Work()
    flight = SingleFlight(work)
    leaving, staying = await started(flight, 2)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    work.release.set()
    assert await staying == 1


@pytest.mark.parametrize("turns_before_cancel", [0, 3])
async def test_a_cancelled_run_cancels_its_callers_and_the_next_run_is_fresh(
    turns_before_cancel: int,
) -> None:
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
