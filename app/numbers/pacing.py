"""Handing the event loop back during a fetch: work on one fetch never holds it for long.

Chunks and decoded pieces may be ready without waiting on I/O (a fast backend, a body that
decompresses far), so the work on them hands the loop back itself (docs/design.md, "Hand the
loop back", has the measurements behind each constant).
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar

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


# When the current fetch last handed the loop back: one clock per fetch (each runs in a
# context of its own), shared by the decoding in the source and the summing in Totals, so
# that neither hands back again right after the other did.
_handed_back: ContextVar[float] = ContextVar("handed_back")


def start_clock() -> None:
    """Count the current fetch's work from now."""
    _handed_back.set(time.perf_counter())


async def pause_if_due() -> None:
    """Give way once the current fetch's work has held the loop for YIELD_INTERVAL."""
    if time.perf_counter() - _handed_back.get(0.0) > YIELD_INTERVAL:
        await let_others_run()
        start_clock()
