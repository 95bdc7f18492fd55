"""The state and jobs topics, read to the end offsets taken at start (schemas.topicreader).

Two forms: in-memory snapshots (`read_state`, `read_jobs`: every record as an object, for tests and
small topics) and the same read streamed into a scratch index on disk (`index_state`, `index_jobs`,
producer.scratchindex), which the operator commands use so that memory does not grow with the topics.
Both offer the views the commands iterate (`latest_items`, `job_items`: sorted by job id).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import orjson

from producer.scratchindex import ScratchIndex, number, u32, u64
from schemas import (
    JobMessage,
    KafkaSettings,
    PoisonMessage,
    State,
    StateRecord,
    Status,
    decode_job,
    decode_state,
    peek_state,
)
from schemas.topicreader import iter_topic

# (partition, offset, reason): a record on a topic that does not decode (poison, tombstone, bad JSON).
Undecodable = tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class Latest:
    """What the commands use of a job's latest state record (a StateRecord has the same fields)."""

    job_id: str
    state: State
    status: Status | None
    attempt: int
    ts_ms: int
    source_partition: int
    source_offset: int

    @classmethod
    def of(cls, r: StateRecord) -> Latest:
        return cls(r.job_id, r.state, r.status, r.attempt, r.ts_ms, r.source_partition, r.source_offset)

    def pack(self) -> bytes:
        status = None if self.status is None else self.status.value
        fields = [
            self.state.value,
            status,
            self.attempt,
            self.ts_ms,
            self.source_partition,
            self.source_offset,
        ]
        return orjson.dumps(fields)

    @classmethod
    def unpack(cls, job_id: str, raw: bytes) -> Latest:
        state, status, attempt, ts_ms, partition, offset = orjson.loads(raw)
        return cls(job_id, State(state), None if status is None else Status(status), attempt, ts_ms,
                   partition, offset)  # fmt: skip


@dataclass(frozen=True, slots=True)
class JobHead:
    """A job's last message: what status needs, and the message itself on demand (requeue)."""

    job_id: str
    attempt: int
    seeded_at_ms: int
    raw: bytes | None = None
    decoded: JobMessage | None = None

    def message(self) -> JobMessage:
        return self.decoded if self.decoded is not None else decode_job(self.raw)

    @classmethod
    def of(cls, job: JobMessage, raw: bytes | None = None) -> JobHead:
        return cls(job.job_id, job.attempt, job.seeded_at_ms, raw, None if raw is not None else job)


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

    def drop(self, job_id: str) -> None:
        self.latest.pop(job_id, None)

    def add_undecodable(self, partition: int, offset: int, reason: str) -> None:
        self.undecodable.append((partition, offset, reason))

    def latest_items(self) -> Iterator[tuple[str, Latest | StateRecord]]:
        return ((jid, self.latest[jid]) for jid in sorted(self.latest))

    @property
    def undecodable_count(self) -> int:
        return len(self.undecodable)


@dataclass
class JobsSnapshot:
    """The whole jobs topic as of `end_offsets`: the last message of each job and where each one was."""

    jobs: dict[str, JobMessage] = field(default_factory=dict)
    # job id -> (partition, offset) of every message of that job, in offset order.
    offsets: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    undecodable: list[Undecodable] = field(default_factory=list)
    end_offsets: dict[int, int] = field(default_factory=dict)

    def job_items(self) -> Iterator[tuple[str, JobHead]]:
        return ((jid, JobHead.of(self.jobs[jid])) for jid in sorted(self.jobs))


# Keyspaces of the scratch index (producer.scratchindex); job ids are 64 hex characters.
LATEST = b"S"  # S job -> Latest.pack() of its latest record (a tombstone deletes it)
TERMINAL = b"T"  # T job attempt8 -> "" : some terminal record of the job at that attempt (its history)
FINAL = b"F"  # F job attempt8 seq8 -> "" : one FINALIZED record (duplicates: several per attempt)
ARTIFACT = b"A"  # A sha256 size8 seq8 -> job : an object a FINALIZED record names
UNDECODABLE = b"U"  # U partition4 offset8 -> reason
JOB = b"J"  # J job -> attempt8 seeded8 + the job's last message as on the topic
JOB_ID_BYTES = 64


class IndexedState:
    """The state topic in a scratch index: every job's latest record, and what audit needs of the
    history (terminal attempts, FINALIZED records per attempt, the objects they name)."""

    def __init__(self, index: ScratchIndex) -> None:
        self.index = index
        self.undecodable_count = 0
        self.end_offsets: dict[int, int] = {}
        self._seq = 0

    def add(self, record: StateRecord) -> None:
        self.add_history(record)
        self.set_latest(record)

    def set_latest(self, record: Latest | StateRecord) -> None:
        latest = record if isinstance(record, Latest) else Latest.of(record)
        self.index.put(LATEST + record.job_id.encode(), latest.pack())

    def add_history(self, record: StateRecord) -> None:
        if not record.state.terminal:
            return
        job, attempt, put = record.job_id.encode(), u64(record.attempt), self.index.put
        put(TERMINAL + job + attempt)
        if record.state is State.FINALIZED:
            self._seq += 1
            put(FINAL + job + attempt + u64(self._seq))
            if record.sha256 is not None and record.size is not None:
                put(ARTIFACT + record.sha256.encode() + u64(record.size) + u64(self._seq), job)

    def drop(self, job_id: str) -> None:
        self.index.delete(LATEST + job_id.encode())

    def add_undecodable(self, partition: int, offset: int, reason: str) -> None:
        self.undecodable_count += 1
        self.index.put(UNDECODABLE + u32(partition) + u64(offset), reason.encode())

    # --- reads, in key order ----------------------------------------------------------------------
    def latest_items(self) -> Iterator[tuple[str, Latest]]:
        for key, value in self.index.items(LATEST):
            jid = key.decode()
            yield jid, Latest.unpack(jid, value)

    def undecodable(self) -> Iterator[Undecodable]:
        for key, value in self.index.items(UNDECODABLE):
            yield number(key[:4]), number(key[4:]), value.decode()

    def terminal_attempt(self, job_id: str) -> int | None:
        """The highest attempt of any terminal record of the job, or None."""
        found = self.index.last_under(TERMINAL + job_id.encode())
        return None if found is None else number(found)

    def finalized_per_attempt(self) -> Iterator[tuple[str, int, int]]:
        """(job id, attempt, FINALIZED records) for every job and attempt with one, in that order."""
        current: tuple[bytes, bytes] | None = None
        count = 0
        for key, _ in self.index.items(FINAL):
            at = (key[:JOB_ID_BYTES], key[JOB_ID_BYTES : JOB_ID_BYTES + 8])
            if at != current:
                if current is not None:
                    yield current[0].decode(), number(current[1]), count
                current, count = at, 0
            count += 1
        if current is not None:
            yield current[0].decode(), number(current[1]), count

    def artifacts(self) -> Iterator[tuple[str, int, str]]:
        """(sha256, size, job id of the first record naming it) per distinct object, sorted."""
        last = b""
        for key, value in self.index.items(ARTIFACT):
            if key[:72] != last:
                last = key[:72]
                yield key[:64].decode(), number(key[64:72]), value.decode()

    def names(self, sha256: str) -> bool:
        """Whether some FINALIZED record names this object."""
        return self.index.has_prefix(ARTIFACT + sha256.encode())


class IndexedJobs:
    """The jobs topic in a scratch index: the last message of each job."""

    def __init__(self, index: ScratchIndex) -> None:
        self.index = index
        self.undecodable_count = 0
        self.end_offsets: dict[int, int] = {}

    def add(self, job: JobMessage, raw: bytes) -> None:
        self.index.put(JOB + job.job_id.encode(), u64(job.attempt) + u64(job.seeded_at_ms) + raw)

    def job_items(self) -> Iterator[tuple[str, JobHead]]:
        for key, value in self.index.items(JOB):
            jid = key.decode()
            yield jid, JobHead(jid, number(value[:8]), number(value[8:16]), bytes(value[16:]))


async def index_state(settings: KafkaSettings, index: ScratchIndex) -> IndexedState:
    """`read_state` into the index: nothing per record stays in memory."""
    state = await _read_state_into(settings, IndexedState(index))
    index.flush()
    return state


async def index_jobs(settings: KafkaSettings, index: ScratchIndex) -> IndexedJobs:
    """`read_jobs` into the index (the last message per job; positions are audit's own)."""
    jobs = IndexedJobs(index)
    async for rec in iter_topic(settings, settings.jobs_topic, end_offsets=jobs.end_offsets):
        try:
            job = decode_job(rec.value)
        except PoisonMessage:
            jobs.undecodable_count += 1
            continue
        jobs.add(job, rec.value or b"")
    index.flush()
    return jobs


async def read_state(settings: KafkaSettings) -> StateSnapshot:
    """Every committed state record, grouped by job in offset order; undecodable ones listed."""
    return await _read_state_into(settings, StateSnapshot())


class _StateSink(Protocol):
    end_offsets: dict[int, int]

    def add(self, record: StateRecord) -> None: ...
    def drop(self, job_id: str) -> None: ...
    def add_undecodable(self, partition: int, offset: int, reason: str) -> None: ...


_Sink = TypeVar("_Sink", bound=_StateSink)


async def _read_state_into(settings: KafkaSettings, sink: _Sink) -> _Sink:
    """The one read of the state topic: records in offset order, tombstones and poison handed on."""
    async for rec in iter_topic(settings, settings.state_topic, end_offsets=sink.end_offsets):
        if rec.value is None and rec.key is not None:
            sink.drop(rec.key.decode("ascii", "replace"))  # tombstone: an operator delete
            continue
        try:
            sink.add(decode_state(rec.value))
        except PoisonMessage as exc:
            sink.add_undecodable(rec.partition, rec.offset, str(exc))
    return sink


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
