"""Ceiling 1: the Kafka loop alone, no HTTP.

Consume job messages (read_committed) and, per partition, write one terminal-sized record per job plus the
partition's offsets in one transaction per commit interval: what docfetch's exactly-once loop costs when
downloads are free. Also measures the at-least-once shape (idempotent producer, await acks, commit()).

    .venv/bin/python bench/kafka_ceiling.py --jobs 20000 --partitions 12 --repeats 3

Prints one JSON line per run and a median summary. Uses fresh topics on KAFKA_BOOTSTRAP_SERVERS (or starts
scripts/kafka-local).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bootstrap_servers, fresh_topics, preload
from schemas import KafkaSettings

# A FINALIZED record is ~600 bytes of JSON; the ceiling writes records of that size.
RECORD = orjson.dumps({"state": "FINALIZED", "pad": "x" * 560})
COMMIT_INTERVAL_S = 0.1


async def _drain(consumer: AIOKafkaConsumer, total: int, on_batch: object) -> float:
    done = 0
    start = time.perf_counter()
    while done < total:
        batch = await consumer.getmany(timeout_ms=200, max_records=5000)
        for tp, messages in batch.items():
            await on_batch(tp, messages)  # type: ignore[operator]
            done += len(messages)
    return time.perf_counter() - start


async def exactly_once(settings: KafkaSettings, total: int) -> float:
    consumer = AIOKafkaConsumer(
        settings.jobs_topic,
        **settings.client_options(),
        group_id=settings.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    producers: dict[int, AIOKafkaProducer] = {}
    pending: dict[TopicPartition, list[tuple[bytes, int]]] = {}

    async def flush() -> None:
        for tp, items in list(pending.items()):
            if not items:
                continue
            producer = producers.get(tp.partition)
            if producer is None:
                producer = AIOKafkaProducer(
                    **settings.client_options(),
                    transactional_id=f"{settings.group_id}-{tp.topic}-{tp.partition}",
                    linger_ms=5,
                )
                await producer.start()
                producers[tp.partition] = producer
            async with producer.transaction():
                for key, _ in items:
                    await producer.send(settings.state_topic, RECORD, key=key, partition=tp.partition)
                await producer.send_offsets_to_transaction({tp: items[-1][1] + 1}, settings.group_id)
            pending[tp] = []

    last = time.perf_counter()

    async def on_batch(tp: TopicPartition, messages: list) -> None:  # type: ignore[type-arg]
        nonlocal last
        pending.setdefault(tp, []).extend((m.key, m.offset) for m in messages)
        if time.perf_counter() - last >= COMMIT_INTERVAL_S:
            await flush()
            last = time.perf_counter()

    try:
        start = time.perf_counter()
        await _drain(consumer, total, on_batch)
        await flush()
        return total / (time.perf_counter() - start)
    finally:
        for producer in producers.values():
            await producer.stop()
        await consumer.stop()


async def at_least_once(settings: KafkaSettings, total: int) -> float:
    consumer = AIOKafkaConsumer(
        settings.jobs_topic,
        **settings.client_options(),
        group_id=settings.group_id + "-alo",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(**settings.client_options(), enable_idempotence=True, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()

    async def on_batch(tp: TopicPartition, messages: list) -> None:  # type: ignore[type-arg]
        futures = [await producer.send(settings.state_topic, RECORD, key=m.key) for m in messages]
        await asyncio.gather(*futures)
        await consumer.commit({tp: messages[-1].offset + 1})

    try:
        elapsed = await _drain(consumer, total, on_batch)
        return total / elapsed
    finally:
        await producer.stop()
        await consumer.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bootstrap = bootstrap_servers()
    results: dict[str, list[float]] = {"exactly-once": [], "at-least-once": []}
    for repeat in range(args.repeats):
        for mode, run in (("exactly-once", exactly_once), ("at-least-once", at_least_once)):
            settings = await fresh_topics(bootstrap, f"ceil-{uuid.uuid4().hex[:6]}", args.partitions)
            await preload(settings, args.jobs)
            rate = await run(settings, args.jobs)
            results[mode].append(rate)
            print(
                orjson.dumps(
                    {
                        "bench": "kafka-ceiling",
                        "mode": mode,
                        "repeat": repeat,
                        "jobs": args.jobs,
                        "jobs_per_s": round(rate),
                    }
                ).decode(),
                flush=True,
            )
    for mode, rates in results.items():
        print(
            f"kafka loop ceiling {mode}: median {statistics.median(rates):,.0f} jobs/s "
            f"over {len(rates)} runs ({', '.join(f'{r:,.0f}' for r in rates)})"
        )


if __name__ == "__main__":
    asyncio.run(main())
