"""Event-loop lag: how late a short sleep wakes up. A stalled loop (CPU-bound parsing, a blocking call)
stops every job, heartbeat and commit at once; this makes the stall visible as a metric."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

# Often enough to see sub-second stalls, rare enough to cost nothing (one timer per quarter second).
SAMPLE_INTERVAL_S = 0.25


async def sample_loop_lag(record: Callable[[float], None], *, interval_s: float = SAMPLE_INTERVAL_S) -> None:
    """Forever: sleep `interval_s`, then record how much later than asked the loop woke us (seconds)."""
    while True:
        due_s = time.monotonic() + interval_s
        await asyncio.sleep(interval_s)
        record(max(0.0, time.monotonic() - due_s))
