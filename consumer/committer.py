"""How one partition's records and offsets become durable: exactly-once or at-least-once.

Both strategies batch what the partition produced during one commit interval (PLANNED, terminal and
DLQ records plus finished offsets) and make it durable in `flush()`; waiters learn the result. Every
record's send is acknowledged before the offsets commit: a failed send aborts the flush (PartitionLost,
and the partition's jobs are redone by its re-acquisition), except a record the broker refuses as too
large, which is replaced by a small FAILED record so that the partition moves on. Any failure that
means "this process cannot write for this partition now" raises PartitionLost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from consumer.errors import PartitionLost
from consumer.offsets import OffsetTracker
from consumer.oversize import Rejected, send_acknowledged, shrink
from consumer.records import OutRecord

log = logging.getLogger("docfetch.consumer")

# aiokafka's transaction manager asserts on illegal state changes (e.g. any call after ProducerFenced put it
# in FATAL_ERROR); for us that is the same news as the fencing itself.
LOST_ERRORS = (KafkaError, CommitFailedError, TimeoutError, AssertionError, Rejected)
# A producer's stop flushes and says goodbye to the broker; with the broker gone it would wait forever.
CLOSE_TIMEOUT_S = 2.0
# Tries of one flush when the broker refuses records as too large: all together; then one record per
# request (a refused request fails every record in it, so this finds the culprits); then culprits shrunk.
SIZE_TRIES = 3


@dataclass
class Batch:
    """What one commit interval collected for a partition."""

    records: list[OutRecord] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.records or self.offsets)

    def resolve(self, error: BaseException | None) -> None:
        for waiter in self.waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
                waiter.exception()  # retrieved here: a cancelled job may never await it


class Sink:
    """The part both strategies share: collecting a batch, flushing it, resolving its waiters.

    `on_durable`, when set, is called after a flush that wrote state-topic records, with the highest
    acknowledged state-topic offset of that flush + 1 (a persistent state store checkpoints with it).
    """

    def __init__(
        self,
        *,
        tp: TopicPartition,
        tracker: OffsetTracker,
        state_topic: str = "",
        flush_timeout_s: float = 30.0,
        committed: int | None = None,
    ) -> None:
        self.tp, self.tracker, self.state_topic = tp, tracker, state_topic
        self.flush_timeout_s = flush_timeout_s
        self.on_durable: Callable[[int], None] | None = None
        self._batch = Batch()
        self._committed = committed  # the group's committed offset as this sink knows it
        self._lost: PartitionLost | None = None  # once lost, never written again
        self._lock = asyncio.Lock()  # the commit loop and a revocation may flush at the same time
        self.last_commit_s: float | None = None

    def add(self, records: list[OutRecord], *, offset: int | None = None) -> asyncio.Future[None]:
        """Queue records (and the offset they finish); the future resolves once they are durable."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.records += records
        if offset is not None:
            self._batch.offsets.append(offset)
        self._batch.waiters.append(waiter)
        return waiter

    @property
    def settled(self) -> bool:
        """Nothing queued and the finished prefix is committed."""
        return self._batch.empty() and self.tracker.committable in (None, self._committed)

    def resume_from(self, committed: int) -> None:
        """The group's committed offset of p when this sink took over."""
        self._committed = committed

    @contextlib.asynccontextmanager
    async def between_flushes(self) -> AsyncIterator[None]:
        """Hold off flushes for the block: no transaction is in progress inside it."""
        async with self._lock:
            yield

    def _take(self) -> Batch | None:
        batch, self._batch = self._batch, Batch()
        if batch.empty() and self.tracker.committable == self._committed:
            batch.resolve(None)
            return None
        return batch

    async def flush(self) -> None:
        """Make the pending batch durable; PartitionLost when this process cannot write for p now."""
        async with self._lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        if self._lost is not None:
            self.fail_pending(self._lost)
            raise self._lost
        batch = self._take()
        if batch is None:
            return
        try:
            async with asyncio.timeout(self.flush_timeout_s):
                durable = await self._write_shrinking(batch)
        except BaseException as exc:  # a cancelled flush may have finished offsets it never committed
            self._lost = PartitionLost(f"partition {self.tp.partition}: {type(exc).__name__}: {exc}")
            batch.resolve(self._lost)
            if isinstance(exc, LOST_ERRORS):
                raise self._lost from exc
            raise
        batch.resolve(None)
        self.last_commit_s = asyncio.get_running_loop().time()
        if durable is not None and self.on_durable is not None:
            self.on_durable(durable)

    async def _write_shrinking(self, batch: Batch) -> int | None:
        """`_write`, again with too-large records found one by one and then replaced by small ones."""
        for attempt in range(1, SIZE_TRIES + 1):
            try:
                return await self._write(batch, one_by_one=attempt > 1)
            except Rejected as exc:
                if attempt == SIZE_TRIES or not exc.too_large_only:
                    raise
                if attempt > 1:
                    batch.records = self._shrunk(batch.records, exc.errors)
                first = next(iter(exc.errors.values()))
                log.warning("event=record-rejected partition=%d records=%d try=%d error=%r",
                            self.tp.partition, len(exc.errors), attempt, first)  # fmt: skip
        return None  # not reached: the last try returns or raises

    def _shrunk(self, records: list[OutRecord], errors: dict[int, BaseException]) -> list[OutRecord]:
        return [shrink(r, errors[i], self.state_topic) if i in errors else r for i, r in enumerate(records)]

    async def _write(self, batch: Batch, *, one_by_one: bool) -> int | None:
        """Write the batch; the state-topic offset after it (None: no state record). Rejected on a send."""
        raise NotImplementedError

    def fail_pending(self, error: BaseException) -> None:
        self._batch.resolve(error)
        self._batch = Batch()

    async def close(self) -> None:
        return None

    def _finish(self, batch: Batch) -> int | None:
        """Mark the batch's offsets finished; the offset to commit when it moved, else None."""
        for offset in batch.offsets:
            self.tracker.finish(offset)
        end = self.tracker.committable
        return None if end is None or end == self._committed else end


class TransactionalSink(Sink):
    """Exactly-once: this partition's own transactional producer; records and offsets in one transaction."""

    def __init__(self, *, producer: AIOKafkaProducer, group_id: str, **common: Any):
        super().__init__(**common)
        self._producer, self._group_id = producer, group_id

    async def _write(self, batch: Batch, *, one_by_one: bool) -> int | None:
        producer = self._producer
        await producer.begin_transaction()
        try:
            durable = await send_acknowledged(
                producer, batch.records, self.state_topic, one_by_one=one_by_one
            )
            end = self._finish(batch)
            if end is not None:
                await producer.send_offsets_to_transaction({self.tp: end}, self._group_id)
            await producer.commit_transaction()
        except BaseException:
            await _abort_quietly(producer)
            raise
        if end is not None:
            self._committed = end
        return durable

    async def close(self) -> None:
        await close_producer(self._producer)


class AcknowledgedSink(Sink):
    """At-least-once: a shared idempotent producer; await the acks, then a generation-fenced commit.

    Before sending any record the sink re-commits the offset it last committed: that commit is fenced by
    the group generation, so a member that lost its generation (a paused process, resumed) fails it and
    never writes a late record over the new owner's terminal one.
    """

    def __init__(self, *, producer: AIOKafkaProducer, consumer: AIOKafkaConsumer, **common: Any):
        super().__init__(**common)
        self._producer, self._consumer = producer, consumer

    async def _write(self, batch: Batch, *, one_by_one: bool) -> int | None:
        if batch.records and self._committed is not None:
            await self._consumer.commit({self.tp: self._committed})  # CommitFailedError when no longer ours
        durable = await send_acknowledged(
            self._producer, batch.records, self.state_topic, one_by_one=one_by_one
        )
        end = self._finish(batch)
        if end is not None:
            await self._consumer.commit({self.tp: end})
            self._committed = end
        return durable


async def close_producer(producer: AIOKafkaProducer) -> None:
    """Stop a producer within CLOSE_TIMEOUT_S; a fenced producer may fail to stop cleanly, which is fine."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await producer.stop()
    except (KafkaError, AssertionError, TimeoutError):
        return  # gone either way; what it had not written is abandoned to the next owner


async def _abort_quietly(producer: AIOKafkaProducer) -> None:
    """Abort a failed transaction; a fenced producer cannot abort, which is fine (it is fenced)."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await producer.abort_transaction()
    except (KafkaError, AssertionError, TimeoutError):  # see LOST_ERRORS
        return
