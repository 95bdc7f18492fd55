"""Read a topic from the beginning to the end offsets taken at start (read_committed, no group).

With ``isolation_level=read_committed`` records of open or aborted transactions are never seen, and the
end offsets the reader stops at are the last stable offsets (LSO). Nothing is committed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from schemas.errors import ReadStalled
from schemas.kafka import partitions_of
from schemas.settings import KafkaSettings

# One fetch per partition is capped by the broker at max_partition_fetch_bytes; larger fetches make a
# full read of a big topic mostly sequential I/O.
FETCH_MAX_BYTES = 50 * 1024 * 1024
PARTITION_FETCH_MAX_BYTES = 8 * 1024 * 1024
# Records handed out per getmany: without a cap, aiokafka decodes everything it has buffered (up to
# FETCH_MAX_BYTES, ~80,000 state records as Python objects) at once, and the peak RSS of a full read
# followed the topic's size (bench/operator_memory.py: 340 MiB at 1M records, 200 with the cap).
MAX_RECORDS_PER_POLL = 2_000
POLL_TIMEOUT_MS = 500  # how long one getmany waits when a partition has nothing new yet
# A read whose positions stop moving below the end offsets cannot finish (e.g. the broker lost the
# data); fail with the partitions named instead of hanging. Far above any fetch latency.
STALL_S = 60.0


async def iter_topic(
    settings: KafkaSettings, topic: str, *, end_offsets: dict[int, int] | None = None
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every committed record of `topic` from the beginning up to the end offsets taken at start.

    When `end_offsets` is given it is filled with partition -> end offset before the first record.
    """
    tps = await partitions_of(settings, topic)
    consumer = AIOKafkaConsumer(
        **settings.client_options(),
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
            raise ReadStalled(f"reading {sorted(remaining)} made no progress for {STALL_S:.0f} s")
        if not remaining:
            return
        batches = await consumer.getmany(
            *remaining, timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_RECORDS_PER_POLL
        )
        for tp, records in batches.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
