"""A consumer restores a 200,000-record state partition before it takes any job of that partition."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from schemas import KafkaSettings, State, encode, job_id
from tests.conftest import MakeTopics
from tests.faults.harness.process import ProcessPool
from tests.integration.consumer_harness import make_job, options, origin, seed
from tests.integration.statefix import record

RESTORE_RECORDS = 200_000
SEND_WINDOW = 5_000  # acks awaited per window: bounds the producer's memory, keeps batches full


async def write_state(settings: KafkaSettings, count: int) -> None:
    """`count` FINALIZED records for works R0..R<count-1>, all on state partition 0."""
    template = encode(record("R0", State.FINALIZED)).decode()
    old_id = job_id(work_id="R0", url=None)
    producer = AIOKafkaProducer(**settings.client_options(), acks=1, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        for start in range(0, count, SEND_WINDOW):
            acks = []
            for i in range(start, min(count, start + SEND_WINDOW)):
                new_id = job_id(work_id=f"R{i}", url=None)
                value = template.replace(old_id, new_id).replace('"R0"', f'"R{i}"').encode()
                acks.append(
                    await producer.send(settings.state_topic, value, key=new_id.encode(), partition=0)
                )
            await asyncio.gather(*acks)
    finally:
        await producer.stop()


@pytest.mark.faults
async def test_restore_of_200k_records_before_taking_work(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=1)
    started = time.monotonic()
    await write_state(settings, RESTORE_RECORDS)
    print(f"\nwrote {RESTORE_RECORDS} state records in {time.monotonic() - started:.1f}s")
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        done_before = make_job(farm.url("/pdf/R7"), work="R7")  # FINALIZED in the restored state
        fresh = [make_job(farm.url(f"/pdf/n{i}"), work=f"N{i}") for i in range(5)]
        await seed(settings, [done_before, *fresh])
        proc = pool.consumer("c0", options(settings, store, exit_when_idle_s=3))
        assert await proc.wait(180) == 0, proc.tail()
    restored = re.search(
        r"event=restored partition=0 records=(\d+) seconds=([\d.]+) rate_per_s=(\d+)", proc.log_text()
    )
    assert restored is not None, proc.tail()
    print(f"restore: {restored[1]} records in {restored[2]}s = {restored[3]} records/s")
    assert int(restored[1]) == RESTORE_RECORDS
    assert {p: n for p, n in farm.hits.items() if p != "/robots.txt"} == {
        f"/pdf/n{i}": 1 for i in range(5)
    }  # R7 skipped without I/O
    assert "/pdf/R7" not in farm.hits
