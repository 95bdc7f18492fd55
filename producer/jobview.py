"""What the topics say about jobs: pending, unfinished, the operator's time and duration helpers."""

from __future__ import annotations

import re
from collections.abc import Mapping

from producer.errors import ConfigError
from producer.statereader import JobsSnapshot, StateSnapshot
from schemas import JobMessage, State, StateRecord
from schemas.lifecycle import is_orphaned, needs_work

DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
SECONDS_PER = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def is_pending(job: JobMessage, latest: StateRecord | None) -> bool:
    """Seeded and not yet taken: no record, or a terminal record of a lower attempt (requeued)."""
    if latest is None:
        return True
    return latest.state.terminal and needs_work(latest.state, latest.attempt, job.attempt)


def is_orphan(record: StateRecord, committed: Mapping[int, int | None]) -> bool:
    """A PLANNED the group's committed offset passed: lost unless requeued (schemas.lifecycle)."""
    return is_orphaned(record.state, record.source_partition, record.source_offset, committed)


def orphaned_jobs(state: StateSnapshot, committed: Mapping[int, int | None]) -> list[StateRecord]:
    return [r for r in state.latest.values() if is_orphan(r, committed)]


def pending_jobs(state: StateSnapshot, jobs: JobsSnapshot) -> list[JobMessage]:
    return [job for jid, job in jobs.jobs.items() if is_pending(job, state.latest.get(jid))]


def unfinished_since_ms(state: StateSnapshot, jobs: JobsSnapshot) -> dict[str, int]:
    """job id -> since when it is unfinished (pending or PLANNED): its seeding time, else its record's."""
    since = {job.job_id: job.seeded_at_ms for job in pending_jobs(state, jobs)}
    for jid, record in state.latest.items():
        if record.state is State.PLANNED:
            message = jobs.jobs.get(jid)
            since[jid] = message.seeded_at_ms if message is not None else record.ts_ms
    return since


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
