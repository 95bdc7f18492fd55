"""Restore state partition p before taking jobs of p: from its persistent store's checkpoint to the end
offset (read_committed: the LSO), or from the beginning when the checkpoint cannot be trusted.

Trusted: the store's fingerprint (cluster id, topic, partition, format) is this partition's; its checkpoint
is within [earliest offset, end offset]; and the last record it read (the marker) is still at its offset
with the same timestamp and key. A state topic that was recreated, truncated or is another cluster's fails
one of these, and so does a marker that compaction removed: then the store is emptied and rebuilt from the
beginning (a full restore, never a wrong one). Every fetched batch is written with the checkpoint it brings
the store to in one WriteBatch, so a crash at any point leaves a store that is consistent with its
checkpoint; re-reading a record is harmless (the latest record of a job wins).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain

from consumer.errors import StoreBusy, StoreFailed
from consumer.rawfetch import Fetched, PartitionLog, Record
from consumer.statedir import Checkpoint, PartitionStore, StateDir, rocksdb_error
from consumer.statestore import JobStates, StateStore
from schemas import KafkaSettings

log = logging.getLogger("docfetch.consumer")

# Large fetches make a restore mostly sequential reads; a state record is a few hundred bytes. One fetch
# (~12,000 records) is one WriteBatch; the limit bounds the reader's buffers (RSS).
FETCH_MAX_BYTES = 8 * 1024 * 1024
FETCH_MAX_WAIT_MS = 50  # a fetch at the end of the log returns soon (a warm restore is mostly that)


@dataclass(frozen=True)
class RestoreReport:
    partition: int
    records: int
    seconds: float
    start: int = 0  # the offset read from: 0 (or the earliest) for a cold restore, the checkpoint if warm
    rebuilt: str | None = None  # why the persistent store was rebuilt from the beginning, if it was

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float(self.records)


def _reader(kafka: KafkaSettings, partition: int) -> PartitionLog:
    """p of the state topic, read raw (consumer.rawfetch: read_committed without ConsumerRecords)."""
    return PartitionLog(
        kafka, kafka.state_topic, partition, max_bytes=FETCH_MAX_BYTES, max_wait_ms=FETCH_MAX_WAIT_MS
    )


async def restore(
    *, kafka: KafkaSettings, partition: int, state_dir: StateDir | None = None
) -> tuple[JobStates, RestoreReport]:
    """p's state: the persistent store brought up to the end offset, or (no state dir, or the store is
    held by another process) an in-memory store read from the beginning.

    A RocksDB error while opening or restoring the store deletes it and rebuilds it from the beginning;
    a second one raises StoreFailed (the keeper's acquisition retries, then gives p up past its deadline)."""
    if state_dir is None:
        return await _restore(kafka=kafka, partition=partition, state_dir=None)
    for attempt in ("rebuild", "release"):
        try:
            return await _restore(kafka=kafka, partition=partition, state_dir=state_dir)
        except Exception as exc:
            if not (isinstance(exc, StoreFailed) or rocksdb_error(exc)):
                raise
            log.warning("event=state-store-failed partition=%d error=%r action=%s", partition,
                        str(exc)[:300], attempt)  # fmt: skip
            state_dir.discard(kafka.state_topic, partition)
            if attempt == "release":
                raise StoreFailed(f"state store of partition {partition}: {exc}") from exc
    raise AssertionError("unreachable")


async def _restore(
    *, kafka: KafkaSettings, partition: int, state_dir: StateDir | None
) -> tuple[JobStates, RestoreReport]:
    started = time.monotonic()
    store: PartitionStore | None = None
    if state_dir is not None:
        try:
            store = state_dir.open(kafka.state_topic, partition)
        except StoreBusy as exc:
            log.warning("event=state-store-busy partition=%d action=memory %s", partition, exc)
    try:
        async with _reader(kafka, partition) as reader:
            begin, end = await reader.beginning(), await reader.end()
            if store is None:
                memory = StateStore()
                count = await _read_into_memory(reader, memory, begin, end)
                return memory, RestoreReport(partition, count, time.monotonic() - started, begin)
            assert state_dir is not None
            fingerprint = state_dir.fingerprint(kafka.state_topic, partition)
            start, rebuilt = _start_offset(store, fingerprint, begin, end)
            checkpoint = store.checkpoint()
            marker = checkpoint.marker if rebuilt is None and checkpoint is not None else None
            try:
                count = await _read_into(reader, store, start, end, expect=marker)
            except MarkerMismatch:  # recreated under the same name, or the marker compacted away
                start, rebuilt = _rebuild(store, fingerprint, begin, "marker-mismatch"), "marker-mismatch"
                count = await _read_into(reader, store, start, end)
    except BaseException as exc:
        if store is not None and state_dir is not None and not rocksdb_error(exc):
            state_dir.close(store)  # a failed one is discarded by the caller, unflushed
        raise
    return store, RestoreReport(partition, count, time.monotonic() - started, start, rebuilt)


async def catch_up(*, kafka: KafkaSettings, store: PartitionStore, partition: int) -> int:
    """Read p from the store's checkpoint to the end offset (what this process wrote since the restore):
    the next assignment, here or in a process sharing the directory, then starts from there."""
    checkpoint = store.checkpoint()
    if checkpoint is None:
        return 0
    async with _reader(kafka, partition) as reader:
        return await _read_into(reader, store, checkpoint.offset, await reader.end())


class MarkerMismatch(Exception):
    """The record a checkpoint's marker names is not at its offset any more."""


def _start_offset(
    store: PartitionStore, fingerprint: dict[str, object], begin: int, end: int
) -> tuple[int, str | None]:
    """Where to read from: the checkpoint when it can be trusted, else (store emptied) the beginning."""
    reason = _distrust(store, fingerprint, begin, end)
    if reason is None:
        checkpoint = store.checkpoint()
        assert checkpoint is not None
        return checkpoint.offset, None
    return _rebuild(store, fingerprint, begin, reason), reason


def _rebuild(store: PartitionStore, fingerprint: dict[str, object], begin: int, reason: str) -> int:
    store.reset(fingerprint)
    log.info("event=state-store-rebuild partition=%s reason=%s", store.path.name.rsplit("-", 1)[-1], reason)
    return begin


def _distrust(store: PartitionStore, fingerprint: dict[str, object], begin: int, end: int) -> str | None:
    """Why the store's checkpoint cannot be trusted; None when it can (the marker is checked on reading)."""
    found = store.fingerprint()
    if found is None:
        return "new"
    if found != fingerprint:
        return "fingerprint"  # another cluster, topic or partition, or an older format
    checkpoint = store.checkpoint()
    if checkpoint is None:
        return "no-checkpoint"
    if checkpoint.offset > end:
        return "beyond-end"  # the topic was recreated or truncated
    if checkpoint.offset < begin:
        return "below-earliest"  # records after the checkpoint were deleted unread
    return None


def _key(record: Record) -> str:
    return (record.key or b"").decode("ascii", "replace")


def _marker(record: Record) -> tuple[int, int, str]:
    return record.offset, record.timestamp, _key(record)


def _reached(fetched: Fetched, marker: tuple[int, int, str] | None) -> Callable[[], Checkpoint]:
    """The checkpoint a fetch brings the store to, once its records are read: its next offset, and its
    last record as the marker (the one before, if it had none)."""

    def checkpoint() -> Checkpoint:
        last = fetched.last
        return Checkpoint(fetched.next_offset, marker if last is None else _marker(last))

    return checkpoint


async def _read_into(
    reader: PartitionLog,
    store: PartitionStore,
    start: int,
    end: int,
    *,
    expect: tuple[int, int, str] | None = None,
) -> int:
    """Read [start, end) into the store; each fetch goes in with its checkpoint (one WriteBatch).

    With `expect` (the checkpoint's marker), reading starts at the marker's record, which must be the first
    one read (MarkerMismatch otherwise, before anything is written); applying it again is harmless."""
    count, position, checkpoint = 0, start if expect is None else expect[0], store.checkpoint()
    marker = checkpoint.marker if checkpoint is not None else None
    if checkpoint is None or checkpoint.offset != start:  # a rebuild (or an empty partition) starts here
        store.write((), checkpoint=Checkpoint(start, marker))
    again = 0 if expect is None else 1  # the marker's record, read a second time
    while position < end or expect is not None:
        fetched = await reader.fetch(position)
        records, moved_from, position = iter(fetched), position, fetched.next_offset
        first = next(records, None)
        if expect is not None:
            if first is not None and _marker(first) != expect:
                raise MarkerMismatch
            if first is None and position >= end:
                raise MarkerMismatch  # nothing left where the marker was
            if first is not None:
                expect = None
        if first is None and position == moved_from:
            continue
        if first is None:  # only skipped batches (aborted, markers, compacted): the position moves
            store.write((), checkpoint=Checkpoint(position, marker))
            continue
        store.write(chain((first,), records), checkpoint=_reached(fetched, marker))
        marker = marker if fetched.last is None else _marker(fetched.last)
        count += fetched.count
    return count - again


async def _read_into_memory(reader: PartitionLog, store: StateStore, start: int, end: int) -> int:
    position, count, apply = start, 0, store.apply
    while position < end:
        fetched = await reader.fetch(position)
        for record in fetched:
            apply(record.key, record.value)
        count += fetched.count
        position = fetched.next_offset
    return count
