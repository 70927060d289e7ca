"""Handing the event loop back during a fetch: work on one fetch never holds it for long.

Chunks and decoded pieces may be ready without waiting on I/O (a fast backend, a body that
decompresses far), so the work on them hands the loop back itself (docs/design.md, "Hand the
loop back", has the measurements behind each constant).
"""

from __future__ import annotations

import asyncio
import time

# Work holds the loop at most about this long before handing it back.
YIELD_INTERVAL = 0.001
# A hand-back lasts this many turns of the loop: a request needs about a dozen turns to be
# read, routed and answered, and one turn per millisecond of work made it wait for all.
TURNS_PER_YIELD = 8
# ... or this long, if the turns take longer (a loop busy with hundreds of clients): enough
# for a turn that answers one request, short enough that a fetch on a busy loop still ends.
HAND_BACK_LIMIT = 0.01


async def let_others_run() -> None:
    """Hand the loop back for TURNS_PER_YIELD turns, or for HAND_BACK_LIMIT if they take longer."""
    handed_back = time.perf_counter()
    for _ in range(TURNS_PER_YIELD):
        await asyncio.sleep(0)
        if time.perf_counter() - handed_back >= HAND_BACK_LIMIT:
            return


class Pacer:
    """One fetch's clock: the decoding in the source and the summing share it, so that
    neither hands the loop back right after the other did."""

    def __init__(self) -> None:
        self._handed_back = time.perf_counter()

    async def pause_if_due(self) -> None:
        """Give way once this fetch's work has held the loop for YIELD_INTERVAL."""
        if time.perf_counter() - self._handed_back > YIELD_INTERVAL:
            await let_others_run()
            self._handed_back = time.perf_counter()
