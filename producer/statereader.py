"""Read the state and jobs topics from the beginning to the end offsets taken at start.

Both readers use ``isolation_level=read_committed``: records of open or aborted transactions are never
seen, and the end offsets they stop at are the last stable offsets (LSO). Nothing is committed; the
readers take no group membership (manual assignment).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from producer.errors import ProducerError, TopologyError
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

# One fetch per partition is capped by the broker at max_partition_fetch_bytes; larger fetches make a
# full read of a big topic mostly sequential I/O.
FETCH_MAX_BYTES = 50 * 1024 * 1024
PARTITION_FETCH_MAX_BYTES = 8 * 1024 * 1024
POLL_TIMEOUT_MS = 500  # how long one getmany waits when a partition has nothing new yet
# A read whose positions stop moving below the end offsets cannot finish (e.g. the broker lost the
# data); fail with the partitions named instead of hanging. Far above any fetch latency.
STALL_S = 60.0

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


async def partitions_of(settings: KafkaSettings, topic: str) -> list[TopicPartition]:
    """The partitions of `topic`; TopologyError when it does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        (meta,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if meta["error_code"] != 0 or not meta["partitions"]:
        raise TopologyError(f"topic {topic!r} does not exist (run `docfetch-producer topics ensure`)")
    return sorted(TopicPartition(topic, p["partition"]) for p in meta["partitions"])


async def iter_topic(
    settings: KafkaSettings, topic: str, *, end_offsets: dict[int, int] | None = None
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every committed record of `topic` from the beginning up to the end offsets taken at start.

    When `end_offsets` is given it is filled with partition -> end offset before the first record.
    """
    tps = await partitions_of(settings, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=FETCH_MAX_BYTES,
        max_partition_fetch_bytes=PARTITION_FETCH_MAX_BYTES,
    )
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
        if end_offsets is not None:
            end_offsets.update({tp.partition: off for tp, off in ends.items()})
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        async for record in _read_to(consumer, ends):
            yield record
    finally:
        await consumer.stop()


async def _read_to(
    consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    remaining = {tp for tp, end in ends.items() if end > 0}
    progress, progressed_at = -1, time.monotonic()
    while remaining:
        # Positions pass transaction markers and aborted records, so compare positions, not offsets.
        positions = {tp: await consumer.position(tp) for tp in remaining}
        remaining = {tp for tp, pos in positions.items() if pos < ends[tp]}
        if sum(positions.values()) != progress:
            progress, progressed_at = sum(positions.values()), time.monotonic()
        elif time.monotonic() - progressed_at > STALL_S:
            raise ProducerError(f"reading {sorted(remaining)} made no progress for {STALL_S:.0f} s")
        if not remaining:
            return
        batches = await consumer.getmany(*remaining, timeout_ms=POLL_TIMEOUT_MS)
        for tp, records in batches.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record


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
