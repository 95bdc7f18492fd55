"""One partition read raw, for the restore: read_committed fetches without aiokafka's consumer.

aiokafka's consumer builds a Python `ConsumerRecord` for every record (about half of a restore's time); a
restore needs only each record's key, value, offset and timestamp, which aiokafka's record batches (its C
implementation) give directly. `PartitionLog` sends the fetch and list-offsets requests itself, through
aiokafka's client, and applies the read_committed rules to the batches:

- the broker returns records up to the last stable offset (LSO) only, and lists the transactions aborted
  in the fetched range as (producer id, first offset);
- a producer's transactional batches at or after its aborted transaction's first offset are skipped, until
  that producer's abort marker (a control batch whose record says ABORT);
- control batches (commit and abort markers) are never records;
- offsets may have gaps (compaction removes records, even every record of a batch): the next fetch starts
  at the batch's `next_offset`, never at the last record's offset + 1;
- a fetch may start inside a batch: the records before the fetch offset are not returned again.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Protocol

import aiokafka.errors as kafka_errors
from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.record.default_records import DefaultRecordBatch
from aiokafka.record.memory_records import MemoryRecords

from consumer.errors import StoreFailed
from schemas import KafkaSettings

log = logging.getLogger("docfetch.consumer")

READ_COMMITTED = 1
EARLIEST, LATEST = -2, -1  # list-offsets "timestamps"
ABORT = 0  # a control record's type (its key: version int16, type int16); 1 is COMMIT
_CONTROL_KEY = struct.Struct(">hh")
RETRY_SECONDS = 0.1
# On the way out the fetch ahead is let finish (a fetch at the end of the log returns after max_wait_ms)
# before the connection closes: closing a TLS connection while a response is arriving stalls under uvloop
# until its TLS shutdown times out (30 s). The close itself is bounded too: a reader is never waited for.
AHEAD_GRACE_S = 2.0
CLOSE_TIMEOUT_S = 2.0


class Record(Protocol):
    """What a fetch gives per record (aiokafka's C DefaultRecord)."""

    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class Fetched:
    """One fetch: its committed data records at or after the fetch offset, in offset order, read once
    (`for record in fetched`, decoded one at a time from the fetched bytes: no list of them is held), and
    where the next fetch starts (past skipped batches and compaction gaps). Once read: `count`, `last`."""

    def __init__(self, batches: list[DefaultRecordBatch], offset: int, next_offset: int) -> None:
        self._batches, self._offset, self.next_offset = batches, offset, next_offset
        self.count, self.last = 0, None

    count: int
    last: Record | None

    def __iter__(self) -> Iterator[Record]:
        count, offset = 0, self._offset
        for batch in self._batches:
            if batch.base_offset < offset:  # the fetch started inside this batch
                for record in batch:
                    if record.offset >= offset:
                        count += 1
                        self.last = record
                        yield record
                continue
            record = None
            for record in batch:
                count += 1
                yield record
            if record is not None:
                self.last = record
        self.count = count


class PartitionLog:
    """`async with PartitionLog(kafka, topic, partition, ...) as log`: its offsets and raw fetches."""

    def __init__(
        self, kafka: KafkaSettings, topic: str, partition: int, *, max_bytes: int, max_wait_ms: int
    ) -> None:
        self.topic, self.partition = topic, partition
        self.max_bytes, self.max_wait_ms = max_bytes, max_wait_ms
        self._client = AIOKafkaClient(**kafka.client_options())
        self._ahead: tuple[int, asyncio.Task[Fetched]] | None = None

    async def __aenter__(self) -> PartitionLog:
        try:
            await self._client.bootstrap()
            await self._client.add_topic(self.topic)
        except BaseException:
            await self._client.close()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            await _settle(ahead[1], AHEAD_GRACE_S)
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._client.close()
        except TimeoutError:
            log.warning(
                "event=state-reader-close-slow partition=%d seconds=%s", self.partition, CLOSE_TIMEOUT_S
            )

    async def beginning(self) -> int:
        return await self._list_offset(EARLIEST)

    async def end(self) -> int:
        """The last stable offset: read_committed reads end there."""
        return await self._list_offset(LATEST)

    async def fetch(self, offset: int) -> Fetched:
        """The committed records from `offset` on (one fetch request; empty at the end of the log).

        The next fetch (from where this one ends) is sent before this one is returned, so that the broker
        reads and sends it while the caller works on this one; it is cancelled on the way out."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] != offset:
            await _drop(ahead[1])
            ahead = None
        fetched = await (ahead[1] if ahead is not None else self._fetch(offset))
        self._ahead = fetched.next_offset, asyncio.create_task(self._fetch(fetched.next_offset))
        await asyncio.sleep(0)  # the request goes out now, not at the caller's next await
        return fetched

    async def _fetch(self, offset: int) -> Fetched:
        while True:
            node = await self._leader()
            request = FetchRequest(
                self.max_wait_ms, 1, self.max_bytes, READ_COMMITTED,
                [(self.topic, [(self.partition, offset, self.max_bytes)])],
            )  # fmt: skip
            try:
                response = await self._client.send(node, request)
            except kafka_errors.KafkaError as exc:
                await self._retry(exc)
                continue
            version = response.API_VERSION
            for _topic, partitions in response.topics:
                for _partition, code, _highwater, *data in partitions:
                    error = kafka_errors.for_code(code)
                    if error is not kafka_errors.NoError:
                        await self._retry(error(f"fetch {self.topic}-{self.partition} at {offset}"))
                        break
                    aborted = data[2] if version >= 11 else data[-2]
                    return committed(MemoryRecords(data[-1]), offset, aborted or ())
                else:
                    continue
                break
            else:
                raise kafka_errors.KafkaError(f"fetch response without {self.topic}-{self.partition}")

    async def _leader(self) -> int:
        while True:
            node = self._client.cluster.leader_for_partition(TopicPartition(self.topic, self.partition))
            if node is not None and node >= 0:
                return int(node)
            await self._retry(kafka_errors.LeaderNotAvailableError(f"{self.topic}-{self.partition}"))

    async def _list_offset(self, which: int) -> int:
        while True:
            node = await self._leader()
            request = OffsetRequest(-1, READ_COMMITTED, [(self.topic, [(self.partition, which)])])
            try:
                response = await self._client.send(node, request)
            except kafka_errors.KafkaError as exc:
                await self._retry(exc)
                continue
            for _topic, partitions in response.topics:
                for _partition, code, *info in partitions:
                    error = kafka_errors.for_code(code)
                    if error is kafka_errors.NoError:
                        return int(info[1])  # v1+: timestamp, offset[, leader epoch]
                    await self._retry(error(f"list offsets of {self.topic}-{self.partition}"))

    async def _retry(self, exc: BaseException) -> None:
        """A retriable error (leader moved, broker restarting) waits and refreshes metadata; any other
        raises. An offset out of range (records deleted under the restore) is not retried: StoreFailed
        makes the restore rebuild from the new beginning."""
        if isinstance(exc, kafka_errors.OffsetOutOfRangeError):
            raise StoreFailed(f"{self.topic}-{self.partition}: {exc}") from exc
        if not getattr(exc, "retriable", False) and not isinstance(exc, kafka_errors.KafkaConnectionError):
            raise exc
        log.info("event=state-fetch-retry partition=%d error=%r", self.partition, str(exc)[:200])
        self._client.force_metadata_update()
        await asyncio.sleep(RETRY_SECONDS)


async def _drop(task: asyncio.Task[Fetched]) -> None:
    """Cancel a fetch ahead that nobody needs, and wait for it (its error, if it had one, is dropped)."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()


async def _settle(task: asyncio.Task[Fetched], grace_s: float) -> None:
    """Let a fetch ahead that nobody needs finish (for up to grace_s), then drop it."""
    await asyncio.wait([task], timeout=grace_s)
    await _drop(task)


def committed(records: MemoryRecords, offset: int, aborted: Iterable[tuple[int, int]]) -> Fetched:
    """The read_committed batches of one fetched partition from `offset` on, and the next fetch offset
    (the batches' headers only: their records are decoded when the Fetched is read)."""
    pending = sorted(aborted, key=lambda pair: pair[1])
    aborting: set[int] = set()
    kept: list[DefaultRecordBatch] = []
    position = offset
    while records.has_next():
        batch = records.next_batch()
        if not batch.validate_crc():
            raise kafka_errors.CorruptRecordException(f"invalid CRC at offset {batch.base_offset}")
        producer = batch.producer_id
        if producer is not None and producer >= 0:
            while pending and pending[0][1] <= batch.base_offset:
                aborting.add(pending.pop(0)[0])
            if batch.is_control_batch:
                if _is_abort_marker(batch):
                    aborting.discard(producer)
            elif batch.is_transactional and producer in aborting:
                position = max(position, batch.next_offset)
                continue
        if not batch.is_control_batch and batch.next_offset > offset:
            kept.append(batch)
        position = max(position, batch.next_offset)
    return Fetched(kept, offset, position)


def _is_abort_marker(batch: DefaultRecordBatch) -> bool:
    for record in batch:
        key = record.key
        return key is not None and len(key) >= 4 and _CONTROL_KEY.unpack_from(key)[1] == ABORT
    return False
