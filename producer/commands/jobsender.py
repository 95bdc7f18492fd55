"""An idempotent Kafka producer sending per-partition record batches, with a bound on unacknowledged sends."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.producer.message_accumulator import BatchBuilder

from schemas import KafkaSettings
from schemas.topics import partition_for_key

# Measured in docs/BENCHMARKS.md "## Seeding": 20 ms linger fills 1 MiB batches at seeding rates
# without adding visible latency to a batch job.
LINGER_MS = 20
MAX_BATCH_BYTES = 1024 * 1024
# Futures held before the oldest is awaited: enough to keep several batches per partition in flight,
# small enough that memory does not grow with the input.
MAX_OUTSTANDING = 20_000
REQUEST_TIMEOUT_MS = 30_000


@dataclass
class SendCounters:
    """What the producer did; printed after a seed and pushed to a Pushgateway on request."""

    sent: int = 0
    acked: int = 0
    failed: int = 0
    bytes_sent: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, error), first few

    MAX_ERRORS_KEPT = 20  # enough to diagnose; the count says the rest


@dataclass
class _OpenBatch:
    """A partition's batch being filled, the line numbers in it, and when it was opened."""

    builder: BatchBuilder
    opened: float
    lines: list[int] = field(default_factory=list)


class JobSender:
    """`async with JobSender(settings, topic=...) as s: await s.send(key, value, line_no)`.

    Messages are packed into one record batch per partition (the partition of Kafka's default
    partitioner, `schemas.topics.partition_for_key`, or the one the caller computed with it) and a batch
    is handed to the producer when full, when `linger()` finds it older than LINGER_MS, or on flush:
    aiokafka's per-message cost (a future, the partitioner, the accumulator) is paid per batch instead.
    At most `max_outstanding` messages are unacknowledged. Leaving the block flushes and waits for every
    acknowledgement (also on error or interrupt).
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        topic: str,
        compression: str | None = None,
        max_outstanding: int = MAX_OUTSTANDING,
    ) -> None:
        self.topic = topic
        self.partitions = 0  # the topic's partition count, known once started
        self.counters = SendCounters()
        self._max_outstanding = max_outstanding
        self._open: dict[int, _OpenBatch] = {}
        self._pending: deque[tuple[asyncio.Future[object], list[int]]] = deque()
        self._outstanding = 0  # messages handed to the producer and not yet settled
        self._producer = AIOKafkaProducer(
            **settings.client_options(),
            enable_idempotence=True,
            acks="all",
            linger_ms=LINGER_MS,
            max_batch_size=MAX_BATCH_BYTES,
            compression_type=compression,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
        )

    async def __aenter__(self) -> JobSender:
        await self._producer.start()
        try:
            self.partitions = len(await self._producer.partitions_for(self.topic))
        except BaseException:
            await self._producer.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.flush()
        finally:
            await self._producer.stop()

    async def send(self, key: bytes, value: bytes, line_no: int, partition: int | None = None) -> None:
        """Add one keyed message to its partition's batch; `partition` must be partition_for_key(key)."""
        if partition is None:
            partition = partition_for_key(key, self.partitions)
        batch = self._open.get(partition) or self._new_batch(partition)
        if batch.builder.append(timestamp=None, key=key, value=value) is None:  # full: closed by append
            await self._submit(partition)
            batch = self._new_batch(partition)
            batch.builder.append(timestamp=None, key=key, value=value)  # the first record always fits
        batch.lines.append(line_no)
        self.counters.sent += 1
        self.counters.bytes_sent += len(value)

    async def linger(self) -> None:
        """Hand over every batch opened more than LINGER_MS ago (call it between input batches)."""
        deadline = time.monotonic() - LINGER_MS / 1000
        for partition in [p for p, batch in self._open.items() if batch.opened <= deadline]:
            await self._submit(partition)

    async def flush(self) -> None:
        """Wait until every message sent so far is acknowledged or failed."""
        for partition in list(self._open):
            await self._submit(partition)
        await self._producer.flush()
        while self._pending:
            await self._settle(*self._pending.popleft())

    def _new_batch(self, partition: int) -> _OpenBatch:
        batch = self._open[partition] = _OpenBatch(self._producer.create_batch(), time.monotonic())
        return batch

    async def _submit(self, partition: int) -> None:
        batch = self._open.pop(partition)
        if not batch.lines:
            return
        batch.builder.close()  # a closed batch does not linger in the producer again
        future = await self._producer.send_batch(batch.builder, self.topic, partition=partition)
        self._pending.append((future, batch.lines))
        self._outstanding += len(batch.lines)
        while self._outstanding > self._max_outstanding and self._pending:
            await self._settle(*self._pending.popleft())

    async def _settle(self, future: asyncio.Future[object], lines: list[int]) -> None:
        self._outstanding -= len(lines)
        try:
            await future
        except KafkaError as exc:  # counted and reported with its lines; the run then exits non-zero
            self.counters.failed += len(lines)
            for line_no in lines[: SendCounters.MAX_ERRORS_KEPT - len(self.counters.errors)]:
                self.counters.errors.append((line_no, repr(exc)))
        else:
            self.counters.acked += len(lines)
