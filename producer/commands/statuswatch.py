"""`docfetch-producer status --watch`: one progress line per interval, with rate and ETA.

    21:40:05 done 1200/5000 (24.0%) finalized=1100 failed=100 running=64 pending=3736 rate=41.2 jobs/s
    ETA 1m32s   (one line)

Each line re-reads the topics like `status` (read_committed, nothing committed). The rate is jobs that
became terminal per second since the watch started (steadier than between two lines); the ETA is the
unfinished jobs at that rate ("-" until a job has finished during the watch).
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from producer.jobview import format_age

if TYPE_CHECKING:  # producer.commands.status imports this module
    from producer.commands.status import StatusReport

DEFAULT_INTERVAL_S = 5.0  # a full read of both topics per line; seconds apart keeps the broker's load low


@dataclass(frozen=True)
class Sample:
    """What one read of the topics says about progress, and when (monotonic seconds)."""

    at_s: float
    jobs: int
    finalized: int
    failed: int
    running: int  # PLANNED: taken by a consumer, not finished
    pending: int  # seeded, not taken yet

    @property
    def done(self) -> int:
        return self.finalized + self.failed

    @property
    def unfinished(self) -> int:
        return self.running + self.pending


def sample(report: StatusReport, *, at_s: float) -> Sample:
    return Sample(
        at_s=at_s,
        jobs=report.jobs,
        finalized=report.states.get("FINALIZED", 0),
        failed=report.states.get("FAILED", 0),
        running=report.states.get("PLANNED", 0),
        pending=report.pending,
    )


def rate_per_s(first: Sample, now: Sample) -> float | None:
    """Jobs finished per second since `first`; None before any time passed or any job finished."""
    elapsed = now.at_s - first.at_s
    finished = now.done - first.done
    return finished / elapsed if elapsed > 0 and finished > 0 else None


def progress_line(first: Sample, now: Sample, *, wall: datetime.datetime) -> str:
    rate = rate_per_s(first, now)
    eta = "-" if rate is None else ("0s" if not now.unfinished else format_age(now.unfinished / rate))
    share = f"{100 * now.done / now.jobs:.1f}%" if now.jobs else "-"
    return (
        f"{wall:%H:%M:%S} done {now.done}/{now.jobs} ({share}) finalized={now.finalized} failed={now.failed} "
        f"running={now.running} pending={now.pending} rate={'-' if rate is None else f'{rate:.1f}'} jobs/s "
        f"ETA {eta}"
    )


async def watch(
    read: Callable[[], Awaitable[StatusReport]],
    *,
    interval_s: float,
    until_done: bool,
    out: Callable[[str], None],
) -> int:
    """Print a line per interval until interrupted (or, with until_done, until nothing is unfinished)."""
    first: Sample | None = None
    while True:
        now = sample(await read(), at_s=time.monotonic())
        first = first or now
        out(progress_line(first, now, wall=datetime.datetime.now().astimezone()))
        if until_done and now.jobs and not now.unfinished:
            return 0
        await asyncio.sleep(interval_s)
