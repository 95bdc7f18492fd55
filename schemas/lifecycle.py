"""The rules every reader applies to a job's latest record (DESIGN §3), written once.

The consumer's plan (skip or work), `status` (pending, orphaned), `requeue` (what to re-publish) and
`audit` (what committed offsets may pass) all decide with these functions, so they never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.status import State


def supersedes(message_attempt: int, recorded_attempt: int) -> bool:
    """A job message's attempt above a record's: a requeue (or forced re-download) of that job."""
    return message_attempt > recorded_attempt


def needs_work(latest: State | None, latest_attempt: int, message_attempt: int) -> bool:
    """Whether a job message asks for work its job's latest record has not done: no record yet, an
    unfinished PLANNED, or a terminal record of a lower attempt. Otherwise it is skipped."""
    if latest is None or latest is State.PLANNED:
        return True
    return supersedes(message_attempt, latest_attempt)


def is_orphaned(
    latest: State, source_partition: int, source_offset: int, committed: Mapping[int, int | None]
) -> bool:
    """A PLANNED whose job message the group's committed offset has passed: no consumer will read that
    message again, so only a requeue (attempt + 1) finishes the job."""
    if latest is not State.PLANNED:
        return False
    done = committed.get(source_partition)
    return done is not None and source_offset < done
