"""The broker version's contract with aiokafka's transactional producer (docs/KAFKA.md).

State records plus consumed offsets in one transaction; an aborted transaction is invisible to a
read_committed reader; a second producer with the same transactional id fences the first.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import ProducerFenced

from schemas import KafkaSettings
from tests.conftest import MakeTopics


async def _read_committed(settings: KafkaSettings, topic: str, expect: int) -> list[bytes]:
    reader = AIOKafkaConsumer(
        topic,
        **settings.client_options(),
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await reader.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(20):
            while True:
                batch = await reader.getmany(timeout_ms=500)
                values += [m.value for msgs in batch.values() for m in msgs if m.value is not None]
                ends = await reader.end_offsets(list(reader.assignment()))
                done = all([await reader.position(tp) >= end for tp, end in ends.items()])
                if done and len(values) >= expect:
                    return values
    finally:
        await reader.stop()


async def _committed(settings: KafkaSettings, tp: TopicPartition) -> int | None:
    consumer = AIOKafkaConsumer(
        **settings.client_options(), group_id=settings.group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        return await consumer.committed(tp)
    finally:
        await consumer.stop()


async def test_records_and_offsets_commit_together_and_aborts_stay_invisible(make_topics: MakeTopics) -> None:
    settings = await make_topics(partitions=1)
    tp = TopicPartition(settings.jobs_topic, 0)
    producer = AIOKafkaProducer(
        **settings.client_options(),
        transactional_id=f"{settings.group_id}-{settings.jobs_topic}-0",
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(settings.state_topic, b"FINALIZED-1", key=b"job-1", partition=0)
            await producer.send_offsets_to_transaction({tp: 7}, settings.group_id)
        await producer.begin_transaction()
        await producer.send(settings.state_topic, b"ABORTED", key=b"job-2", partition=0)
        await producer.send_offsets_to_transaction({tp: 9}, settings.group_id)
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(settings.state_topic, b"FINALIZED-3", key=b"job-3", partition=0)
    finally:
        await producer.stop()
    assert await _read_committed(settings, settings.state_topic, expect=2) == [b"FINALIZED-1", b"FINALIZED-3"]
    assert await _committed(settings, tp) == 7


async def test_same_transactional_id_fences_the_zombie(make_topics: MakeTopics) -> None:
    settings = await make_topics(partitions=1)
    txn_id = f"{settings.group_id}-{settings.jobs_topic}-0"
    zombie = AIOKafkaProducer(**settings.client_options(), transactional_id=txn_id)
    await zombie.start()
    await zombie.begin_transaction()
    await zombie.send_and_wait(settings.state_topic, b"ZOMBIE", key=b"job-1", partition=0)
    successor = AIOKafkaProducer(**settings.client_options(), transactional_id=txn_id)
    await successor.start()  # init_transactions aborts the zombie's open transaction and bumps the epoch
    try:
        async with successor.transaction():
            await successor.send(settings.state_topic, b"NEW-OWNER", key=b"job-1", partition=0)
        with pytest.raises(ProducerFenced):
            await zombie.commit_transaction()
    finally:
        await successor.stop()
        await _stop_quietly(zombie)
    assert await _read_committed(settings, settings.state_topic, expect=1) == [b"NEW-OWNER"]


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    with contextlib.suppress(ProducerFenced):
        await producer.stop()
