"""Snapshots of the state and jobs topics, read to the end offsets taken at start (schemas.topicreader)."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from schemas import (
    JobMessage,
    KafkaSettings,
    PoisonMessage,
    State,
    StateRecord,
    decode_job,
    decode_state,
    peek_state,
)
from schemas.topicreader import iter_topic

# (partition, offset, reason): a record on a topic that does not decode (poison, tombstone, bad JSON).
Undecodable = tuple[int, int, str]


@dataclass
class StateSnapshot:
    """The whole state topic as of `end_offsets` (partition -> LSO)."""

    history: dict[str, list[StateRecord]] = field(default_factory=dict)
    latest: dict[str, StateRecord] = field(default_factory=dict)
    undecodable: list[Undecodable] = field(default_factory=list)
    end_offsets: dict[int, int] = field(default_factory=dict)

    def add(self, record: StateRecord) -> None:
        self.history.setdefault(record.job_id, []).append(record)
        self.latest[record.job_id] = record


@dataclass
class JobsSnapshot:
    """The whole jobs topic as of `end_offsets`: the last message of each job and where each one was."""

    jobs: dict[str, JobMessage] = field(default_factory=dict)
    # job id -> (partition, offset) of every message of that job, in offset order.
    offsets: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    undecodable: list[Undecodable] = field(default_factory=list)
    end_offsets: dict[int, int] = field(default_factory=dict)


async def read_state(settings: KafkaSettings) -> StateSnapshot:
    """Every committed state record, grouped by job in offset order; undecodable ones listed."""
    snapshot = StateSnapshot()
    async for rec in iter_topic(settings, settings.state_topic, end_offsets=snapshot.end_offsets):
        if rec.value is None and rec.key is not None:
            snapshot.latest.pop(rec.key.decode("ascii", "replace"), None)  # tombstone: an operator delete
            continue
        try:
            snapshot.add(decode_state(rec.value))
        except PoisonMessage as exc:
            snapshot.undecodable.append((rec.partition, rec.offset, str(exc)))
    return snapshot


async def read_jobs(settings: KafkaSettings) -> JobsSnapshot:
    """Every committed job message: the last one per job id and the position of each."""
    snapshot = JobsSnapshot()
    async for rec in iter_topic(settings, settings.jobs_topic, end_offsets=snapshot.end_offsets):
        try:
            job = decode_job(rec.value)
        except PoisonMessage as exc:
            snapshot.undecodable.append((rec.partition, rec.offset, str(exc)))
            continue
        snapshot.jobs[job.job_id] = job
        snapshot.offsets.setdefault(job.job_id, []).append((rec.partition, rec.offset))
    return snapshot


async def finalized_job_ids(settings: KafkaSettings) -> set[str]:
    """Ids of the jobs whose latest state record is FINALIZED (light: no full validation)."""
    latest: dict[str, str] = {}
    async for rec in iter_topic(settings, settings.state_topic):
        if rec.value is None and rec.key is not None:
            latest.pop(rec.key.decode("ascii", "replace"), None)  # tombstone: an operator delete
            continue
        try:
            job, state = _peek(rec.value)
        except PoisonMessage:
            continue
        latest[job] = state
    return {job for job, state in latest.items() if state == State.FINALIZED}


def _peek(raw: bytes | None) -> tuple[str, str]:
    """(job_id, state) of a state record without full validation, since --skip-final reads millions."""
    if raw is None:
        raise PoisonMessage("undecodable", "tombstone")
    try:
        job, state, _attempt, _status = peek_state(raw)
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise PoisonMessage("undecodable", repr(exc)) from None
    return job, state
