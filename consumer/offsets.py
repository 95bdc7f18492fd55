"""Per-partition offset tracking: out-of-order completion, the contiguous finished prefix."""

from __future__ import annotations

import time


class OffsetTracker:
    """Offsets taken from one partition (in increasing order) and which of them are unfinished.

    The committable offset is the lowest unfinished offset, or one past the highest taken when all are
    finished: a job still running holds back every offset above it, so a crash never skips it. Gaps in
    the log (transaction markers, compaction) need no special case.
    """

    def __init__(self) -> None:
        self._open: dict[int, float] = {}  # unfinished offset -> monotonic time it was taken
        self._high: int | None = None  # one past the highest offset taken
        self.last_progress_s = time.monotonic()

    def take(self, offset: int) -> bool:
        """Hand out an offset; False when it was already handed out (a redelivery after a seek)."""
        if self._high is not None and offset < self._high:
            return False
        self._open[offset] = time.monotonic()
        self._high = offset + 1
        return True

    def finish(self, offset: int) -> None:
        """The offset's records are durable (or it needs none). Progress = the committable offset moved."""
        lowest = next(iter(self._open), None)
        if self._open.pop(offset, None) is not None and offset == lowest:
            self.last_progress_s = time.monotonic()

    @property
    def committable(self) -> int | None:
        """The offset to commit: every offset below it is finished. None before any message."""
        if self._open:
            return next(iter(self._open))  # insertion order is offset order
        return self._high

    def oldest_open_age_s(self) -> float:
        """Seconds since the oldest unfinished offset was taken (0 when none)."""
        if not self._open:
            return 0.0
        return time.monotonic() - next(iter(self._open.values()))
