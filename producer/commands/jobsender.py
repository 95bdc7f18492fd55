"""An idempotent, batching Kafka producer with a bound on unacknowledged sends."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas import KafkaSettings

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


class JobSender:
    """`async with JobSender(settings, topic=...) as s: await s.send(key, value, line_no)`.

    Sends are not awaited one by one; at most `max_outstanding` are unacknowledged. Leaving the block
    flushes and waits for every acknowledgement (also on error or interrupt).
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
        self.counters = SendCounters()
        self._max_outstanding = max_outstanding
        self._pending: deque[tuple[asyncio.Future[object], int]] = deque()
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
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.flush()
        finally:
            await self._producer.stop()

    async def send(self, key: bytes, value: bytes, line_no: int) -> None:
        """Hand one message to the producer (keyed, default partitioner: a job stays on one partition)."""
        future = await self._producer.send(self.topic, value, key=key)
        self._pending.append((future, line_no))
        self.counters.sent += 1
        self.counters.bytes_sent += len(value)
        while len(self._pending) > self._max_outstanding:
            await self._settle(*self._pending.popleft())

    async def flush(self) -> None:
        """Wait until every message sent so far is acknowledged or failed."""
        await self._producer.flush()
        while self._pending:
            await self._settle(*self._pending.popleft())

    async def _settle(self, future: asyncio.Future[object], line_no: int) -> None:
        try:
            await future
        except KafkaError as exc:  # counted and reported with its line; the run then exits non-zero
            self.counters.failed += 1
            if len(self.counters.errors) < SendCounters.MAX_ERRORS_KEPT:
                self.counters.errors.append((line_no, repr(exc)))
        else:
            self.counters.acked += 1
