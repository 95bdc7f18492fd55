"""Restore state partition p into a local store {job_id: (state, attempt)} before taking jobs of p."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import KafkaSettings, State, peek_state, peek_state_attempt

log = logging.getLogger("docfetch.consumer")

# Large fetches make a restore mostly sequential reads; a state record is a few hundred bytes.
FETCH_MAX_BYTES = 50 * 1024 * 1024
PARTITION_FETCH_MAX_BYTES = 16 * 1024 * 1024
RESTORE_POLL_MS = 200  # one getmany; the loop ends at the end offset, not on an empty poll
MAX_RECORDS_PER_POLL = 50_000
_STATES = {s.value: s for s in State}  # a dict lookup is several times cheaper than State(value)


@dataclass
class StateStore:
    """The latest (state, attempt) of every job of one partition, as restored and then as written."""

    latest: dict[str, tuple[State, int]] = field(default_factory=dict)
    undecodable: int = 0

    def apply(self, key: bytes | None, raw: bytes | None) -> None:
        if raw is None:  # a tombstone: the operator deleted the job's state, it is pending again
            if key is not None:
                self.latest.pop(key.decode("ascii", "replace"), None)
            return
        fast = peek_state_attempt(raw) if key is not None else None
        try:
            if fast is not None and fast[0] in _STATES:  # the key is the job id (DESIGN §2)
                self.latest[key.decode("ascii", "replace")] = (_STATES[fast[0]], fast[1])  # type: ignore[union-attr]
                return
            job_id, state, attempt, _status = peek_state(raw)
            self.latest[job_id] = (_STATES[state], attempt)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.undecodable += 1

    def set(self, job_id: str, state: State, attempt: int) -> None:
        self.latest[job_id] = (state, attempt)

    def get(self, job_id: str) -> tuple[State, int] | None:
        return self.latest.get(job_id)


@dataclass(frozen=True)
class RestoreReport:
    partition: int
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float(self.records)


async def restore(*, kafka: KafkaSettings, partition: int) -> tuple[StateStore, RestoreReport]:
    """Read state partition `partition` (read_committed) from the beginning to its end offset (the LSO)."""
    started = time.monotonic()
    tp = TopicPartition(kafka.state_topic, partition)
    reader = AIOKafkaConsumer(
        **kafka.client_options(),
        isolation_level="read_committed",
        enable_auto_commit=False,
        fetch_max_bytes=FETCH_MAX_BYTES,
        max_partition_fetch_bytes=PARTITION_FETCH_MAX_BYTES,
    )
    await reader.start()
    store, count = StateStore(), 0
    try:
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        end = (await reader.end_offsets([tp]))[tp]
        while await reader.position(tp) < end:
            batch = await reader.getmany(tp, timeout_ms=RESTORE_POLL_MS, max_records=MAX_RECORDS_PER_POLL)
            for msg in batch.get(tp, ()):
                store.apply(msg.key, msg.value)
                count += 1
    finally:
        await reader.stop()
    report = RestoreReport(partition, count, time.monotonic() - started)
    return store, report
