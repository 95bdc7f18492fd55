"""How one partition's records and offsets become durable: exactly-once or at-least-once.

Both strategies batch what the partition produced during one commit interval (PLANNED, terminal and
DLQ records plus finished offsets) and make it durable in `flush()`; waiters learn the result. Any
failure that means "someone else owns this partition now" raises PartitionLost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from consumer.errors import PartitionLost
from consumer.offsets import OffsetTracker
from consumer.records import OutRecord

# aiokafka's transaction manager asserts on illegal state changes (e.g. any call after ProducerFenced put it
# in FATAL_ERROR); for us that is the same news as the fencing itself.
LOST_ERRORS = (KafkaError, CommitFailedError, TimeoutError, AssertionError)

# One flush is a handful of round trips on a healthy broker; longer means it is not coming back.
FLUSH_TIMEOUT_S = 30.0


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
    """The part both strategies share: collecting a batch and resolving its waiters."""

    def __init__(self, *, tp: TopicPartition, tracker: OffsetTracker) -> None:
        self.tp, self.tracker = tp, tracker
        self._batch = Batch()
        self._committed: int | None = None
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

    def _take(self) -> Batch | None:
        batch, self._batch = self._batch, Batch()
        if batch.empty() and self.tracker.committable == self._committed:
            batch.resolve(None)
            return None
        return batch

    async def flush(self) -> None:
        """Make the pending batch durable; PartitionLost when this process no longer owns the partition."""
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
            async with asyncio.timeout(FLUSH_TIMEOUT_S):
                await self._write(batch)
        except LOST_ERRORS as exc:
            self._lost = PartitionLost(f"partition {self.tp.partition}: {type(exc).__name__}: {exc}")
            batch.resolve(self._lost)
            raise self._lost from exc
        batch.resolve(None)
        self.last_commit_s = asyncio.get_running_loop().time()

    async def _write(self, batch: Batch) -> None:
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

    def __init__(
        self, *, tp: TopicPartition, tracker: OffsetTracker, producer: AIOKafkaProducer, group_id: str
    ):
        super().__init__(tp=tp, tracker=tracker)
        self._producer, self._group_id = producer, group_id

    async def _write(self, batch: Batch) -> None:
        producer = self._producer
        await producer.begin_transaction()
        try:
            for r in batch.records:
                await producer.send(
                    r.topic, r.value, key=r.key, partition=r.partition, headers=list(r.headers)
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

    async def close(self) -> None:
        try:
            await self._producer.stop()
        except (KafkaError, AssertionError):
            return  # a fenced producer may fail to stop cleanly; it is gone either way


class AcknowledgedSink(Sink):
    """At-least-once: a shared idempotent producer; await the acks, then a generation-fenced commit."""

    def __init__(
        self,
        *,
        tp: TopicPartition,
        tracker: OffsetTracker,
        producer: AIOKafkaProducer,
        consumer: AIOKafkaConsumer,
    ):
        super().__init__(tp=tp, tracker=tracker)
        self._producer, self._consumer = producer, consumer

    async def _write(self, batch: Batch) -> None:
        acks = [
            await self._producer.send(
                r.topic, r.value, key=r.key, partition=r.partition, headers=list(r.headers)
            )
            for r in batch.records
        ]
        await asyncio.gather(*acks)
        end = self._finish(batch)
        if end is not None:
            await self._consumer.commit({self.tp: end})
            self._committed = end


async def _abort_quietly(producer: AIOKafkaProducer) -> None:
    """Abort a failed transaction; a fenced producer cannot abort, which is fine (it is fenced)."""
    try:
        await producer.abort_transaction()
    except (KafkaError, AssertionError):  # see LOST_ERRORS
        return


def _retrieve(ack: asyncio.Future[object]) -> None:
    if not ack.cancelled():
        ack.exception()
