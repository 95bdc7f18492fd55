"""A full read of a topic holds a bounded number of decoded records at a time, whatever the topic's size.

Without a cap on getmany, aiokafka hands out every record it has buffered (a fetch of up to 8 MiB per
partition) as Python objects at once, so a full read's peak memory followed the fetch size and the
topic's size; `status`, `audit` and `requeue` read topics of hundreds of millions of records this way.
"""

from __future__ import annotations

import tracemalloc

from aiokafka import AIOKafkaProducer

from schemas import KafkaSettings
from schemas.topicreader import MAX_RECORDS_PER_POLL, iter_topic
from tests.conftest import MakeTopics

RECORDS = 30_000
VALUE = b"v" * 600  # a state record's size


async def _fill(settings: KafkaSettings) -> None:
    producer = AIOKafkaProducer(**settings.client_options(), linger_ms=20, max_batch_size=2**20)
    await producer.start()
    try:
        for i in range(RECORDS):
            await producer.send(settings.state_topic, VALUE, key=b"%064d" % i, partition=0)
        await producer.flush()
    finally:
        await producer.stop()


async def test_a_full_read_decodes_a_bounded_number_of_records_at_a_time(make_topics: MakeTopics) -> None:
    settings = await make_topics(partitions=1)
    await _fill(settings)
    held: list[object] = []  # each record kept alive until the reader asks for more: what getmany gave
    seen = 0
    tracemalloc.start()
    try:
        async for record in iter_topic(settings, settings.state_topic):
            seen += 1
            held.append(record)
            if len(held) >= MAX_RECORDS_PER_POLL:
                held.clear()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == RECORDS
    # The raw fetch buffer (8 MiB, with the next one prefetched) plus a few polls of decoded records: without
    # the cap one poll decodes the whole fetch (~13,000 records, ~20 MB more: 40 MiB measured, 20 with it).
    assert peak < 28 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"
