"""The restore's own read_committed fetch path (consumer/rawfetch.py) on a real broker: aborted transactions'
records are never applied (and a producer's later committed transaction is), control batches are not records,
and a compacted partition's offset gaps are crossed to the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from consumer.restore import restore
from consumer.statedir import PartitionStore, StateDir, state_dir
from consumer.statestore import StateStore
from schemas import KafkaSettings, State, encode
from schemas.kafka import admin_client
from tests.conftest import MakeTopics
from tests.integration.statefix import record
from tests.integration.test_consumer_inprocess import state_offsets

pytestmark = pytest.mark.integration


@pytest.fixture
def states(tmp_path: Path) -> Iterator[StateDir]:
    with state_dir(tmp_path / "state", max_bytes=2**30, cache_bytes=8 * 2**20, cluster="c1") as s:
        yield s


def job_of(work: str) -> str:
    return record(work, State.FINALIZED).job_id


async def send(
    producer: AIOKafkaProducer, settings: KafkaSettings, work: str, state: State, attempt: int
) -> None:
    r = record(work, state, attempt=attempt)
    await producer.send_and_wait(settings.state_topic, encode(r), key=r.job_id.encode(), partition=0)


async def write_with_transactions(settings: KafkaSettings) -> None:
    """W0..W9 FINALIZED (plain); then producer A's transaction rewrites W0..W4 as PLANNED attempt 5 and
    aborts, interleaved with producer B's committed transaction (W30..W34); then A commits W40..W44; then
    W50 plain. Every record goes in its own batch (send_and_wait)."""
    plain = AIOKafkaProducer(**settings.client_options(), acks="all")
    a = AIOKafkaProducer(**settings.client_options(), transactional_id=f"{settings.group_id}-a")
    b = AIOKafkaProducer(**settings.client_options(), transactional_id=f"{settings.group_id}-b")
    for p in (plain, a, b):
        await p.start()
    try:
        for i in range(10):
            await send(plain, settings, f"W{i}", State.FINALIZED, 0)
        await a.begin_transaction()
        await b.begin_transaction()
        for i in range(5):
            await send(a, settings, f"W{i}", State.PLANNED, 5)
            await send(b, settings, f"W{30 + i}", State.FINALIZED, 1)
        await a.abort_transaction()
        await b.commit_transaction()
        await a.begin_transaction()
        for i in range(40, 45):
            await send(a, settings, f"W{i}", State.FINALIZED, 2)
        await a.commit_transaction()
        await send(plain, settings, "W50", State.FINALIZED, 0)
    finally:
        for p in (plain, a, b):
            await p.stop()


def assert_committed_only(store: PartitionStore | StateStore) -> None:
    for i in range(10):
        assert store.get(job_of(f"W{i}")) == (State.FINALIZED, 0), f"W{i}"  # the aborted rewrite: not applied
    for i in range(30, 35):
        assert store.get(job_of(f"W{i}")) == (State.FINALIZED, 1), f"W{i}"
    for i in range(40, 45):
        assert store.get(job_of(f"W{i}")) == (State.FINALIZED, 2), f"W{i}"  # after A's abort marker
    assert store.get(job_of("W50")) == (State.FINALIZED, 0)


async def test_restore_skips_aborted_transactions_and_control_batches(
    make_topics: MakeTopics, states: StateDir
) -> None:
    settings = await make_topics(partitions=1)
    await write_with_transactions(settings)

    store, report = await restore(kafka=settings, partition=0, state_dir=states)
    assert isinstance(store, PartitionStore)
    assert_committed_only(store)
    # 10 + 5 + 5 + 1 committed data records; the 5 aborted ones and the 3 markers are not records
    assert report.records == 21
    checkpoint = store.checkpoint()
    assert checkpoint is not None and checkpoint.offset == 10 + 10 + 1 + 1 + 5 + 1 + 1  # the end offset
    assert checkpoint.marker is not None and checkpoint.marker[2] == job_of("W50")
    states.close(store)

    warm, again = await restore(kafka=settings, partition=0, state_dir=states)
    assert (again.records, again.rebuilt) == (0, None)  # the marker (W50) found where it was
    assert isinstance(warm, PartitionStore)
    assert_committed_only(warm)

    memory, in_memory = await restore(kafka=settings, partition=0, state_dir=None)
    assert isinstance(memory, StateStore) and in_memory.records == 21
    assert_committed_only(memory)


async def compacted_gaps(settings: KafkaSettings, *, deadline_s: float = 60.0) -> list[int]:
    """Write W0..W9 twice (FINALIZED attempt 0, then attempt 1), roll the segment, wait until the cleaner
    removed the first versions; the offsets left (with gaps)."""
    async with admin_client(settings) as admin:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, settings.state_topic, configs={
            "cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.001",
            "min.compaction.lag.ms": "0", "delete.retention.ms": "100",
        })])  # fmt: skip
    producer = AIOKafkaProducer(**settings.client_options(), acks="all")
    await producer.start()
    try:
        for attempt in (0, 1):
            for i in range(10):
                await send(producer, settings, f"W{i}", State.FINALIZED, attempt)
        started = time.monotonic()
        while True:
            await asyncio.sleep(0.3)
            await send(producer, settings, "W99", State.FINALIZED, 0)  # rolls the segment (segment.ms)
            offsets = await read_offsets(settings)
            if offsets[:10] != list(range(10)):
                return offsets
            if time.monotonic() - started > deadline_s:
                pytest.fail("the log cleaner did not compact the state partition in time")
    finally:
        await producer.stop()


async def read_offsets(settings: KafkaSettings) -> list[int]:
    return sorted(offset for offsets in (await state_offsets(settings)).values() for offset in offsets)


async def test_restore_crosses_compaction_gaps(make_topics: MakeTopics, states: StateDir) -> None:
    settings = await make_topics(partitions=1)
    offsets = await compacted_gaps(settings)
    assert offsets[0] > 0  # the first versions of W0..W9 are gone: the partition starts with a gap

    store, report = await restore(kafka=settings, partition=0, state_dir=states)
    assert isinstance(store, PartitionStore)
    for i in range(10):
        assert store.get(job_of(f"W{i}")) == (State.FINALIZED, 1), f"W{i}"
    assert store.get(job_of("W99")) == (State.FINALIZED, 0)
    assert 11 <= report.records <= len(offsets)  # the cleaner may have removed more W99s since
    checkpoint = store.checkpoint()
    assert checkpoint is not None and checkpoint.marker is not None
    assert checkpoint.offset > offsets[-1] and checkpoint.marker[2] == job_of("W99")  # the end, crossed
