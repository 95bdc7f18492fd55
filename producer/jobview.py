"""What the topics say about jobs: pending, unfinished, the operator's time and duration helpers."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Protocol

from producer.errors import ConfigError
from producer.statereader import JobHead, Latest
from schemas import JobMessage, State, StateRecord
from schemas.lifecycle import is_orphaned, needs_work

DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
SECONDS_PER = {"s": 1, "m": 60, "h": 3600, "d": 86400}

Record = Latest | StateRecord  # a job's latest state record, whole or as the scratch index keeps it


class StateView(Protocol):
    """The state topic as read: a snapshot in memory or a scratch index (producer.statereader)."""

    @property
    def undecodable_count(self) -> int: ...

    def latest_items(self) -> Iterator[tuple[str, Record]]: ...


class JobsView(Protocol):
    """The jobs topic as read: a snapshot in memory or a scratch index (producer.statereader)."""

    @property
    def end_offsets(self) -> dict[int, int]: ...

    def job_items(self) -> Iterator[tuple[str, JobHead]]: ...


def joined(state: StateView, jobs: JobsView) -> Iterator[tuple[str, JobHead | None, Record | None]]:
    """(job id, last job message, latest record) of every job either topic knows, by job id: a merge of
    two sorted iterations, so nothing per job is held."""
    job_it, rec_it = jobs.job_items(), state.latest_items()
    job, rec = next(job_it, None), next(rec_it, None)
    while job is not None or rec is not None:
        if rec is None or (job is not None and job[0] < rec[0]):
            assert job is not None
            yield job[0], job[1], None
            job = next(job_it, None)
        elif job is None or rec[0] < job[0]:
            yield rec[0], None, rec[1]
            rec = next(rec_it, None)
        else:
            yield job[0], job[1], rec[1]
            job, rec = next(job_it, None), next(rec_it, None)


def is_pending(job: JobHead | JobMessage, latest: Record | None) -> bool:
    """Seeded and not yet taken: no record, or a terminal record of a lower attempt (requeued)."""
    if latest is None:
        return True
    return latest.state.terminal and needs_work(latest.state, latest.attempt, job.attempt)


def is_orphan(record: Record, committed: Mapping[int, int | None]) -> bool:
    """A PLANNED the group's committed offset passed: lost unless requeued (schemas.lifecycle)."""
    return is_orphaned(record.state, record.source_partition, record.source_offset, committed)


def unfinished_since_ms(job: JobHead | None, latest: Record | None) -> int | None:
    """Since when a job is unfinished (pending or PLANNED): its seeding time, else its record's; None
    when it is finished."""
    if job is not None and is_pending(job, latest):
        return job.seeded_at_ms
    if latest is not None and latest.state is State.PLANNED:
        return job.seeded_at_ms if job is not None else latest.ts_ms
    return None


def parse_duration_s(text: str) -> float:
    """ "90s", "30m", "2h", "1.5d" -> seconds."""
    match = DURATION.match(text.strip())
    if match is None:
        raise ConfigError(f"duration {text!r}: use a number and one of s, m, h, d (e.g. 30m, 2h)")
    return float(match.group(1)) * SECONDS_PER[match.group(2)]


def format_age(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"
