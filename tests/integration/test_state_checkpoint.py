"""Persistent partition stores (consumer/statedir.py) restored from their checkpoint (consumer/restore.py),
against a real broker: warm restores read only what follows the checkpoint; a store that cannot be trusted
(another cluster, a recreated topic, a corrupted directory) is rebuilt from the beginning."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from consumer.restore import catch_up, restore
from consumer.statedir import PartitionStore, StateDir, state_dir
from consumer.statestore import StateStore
from producer.commands import topics
from schemas import ClusterError, KafkaSettings, State, encode
from schemas.kafka import admin_client
from tests.conftest import MakeTopics
from tests.integration.statefix import record

pytestmark = pytest.mark.integration


async def write(settings: KafkaSettings, works: range, state: State = State.FINALIZED) -> None:
    producer = AIOKafkaProducer(**settings.client_options(), acks="all", linger_ms=5)
    await producer.start()
    try:
        acks = []
        for i in works:
            r = record(f"W{i}", state)
            acks.append(
                await producer.send(settings.state_topic, encode(r), key=r.job_id.encode(), partition=0)
            )
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def tombstone(settings: KafkaSettings, work: str) -> None:
    producer = AIOKafkaProducer(**settings.client_options(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.state_topic, None, key=record(work, State.FINALIZED).job_id.encode(), partition=0
        )
    finally:
        await producer.stop()


def job_of(work: str) -> str:
    return record(work, State.FINALIZED).job_id


@pytest.fixture
def states(tmp_path: Path) -> Iterator[StateDir]:
    with state_dir(tmp_path / "state", max_bytes=2**30, cache_bytes=8 * 2**20, cluster="c1") as s:
        yield s


async def test_warm_restore_reads_only_after_the_checkpoint(
    make_topics: MakeTopics, states: StateDir
) -> None:
    settings = await make_topics(partitions=1)
    await write(settings, range(300))
    store, cold = await restore(kafka=settings, partition=0, state_dir=states)
    assert isinstance(store, PartitionStore)
    assert (cold.records, cold.start, cold.rebuilt) == (300, 0, "new")
    assert store.get(job_of("W7")) == (State.FINALIZED, 0)
    states.close(store)

    await write(settings, range(300, 320), State.PLANNED)
    await tombstone(settings, "W7")
    store, warm = await restore(kafka=settings, partition=0, state_dir=states)
    assert (warm.records, warm.start, warm.rebuilt) == (21, 300, None)
    assert store.get(job_of("W7")) is None  # the operator's tombstone after the checkpoint
    assert store.get(job_of("W310")) == (State.PLANNED, 0)
    assert store.get(job_of("W8")) == (State.FINALIZED, 0)
    states.close(store)


async def test_own_writes_are_read_back_on_release(make_topics: MakeTopics, states: StateDir) -> None:
    """set() writes data only; catch_up reads the partition forward, so the next restore starts there."""
    settings = await make_topics(partitions=1)
    await write(settings, range(50))
    store, _ = await restore(kafka=settings, partition=0, state_dir=states)
    assert isinstance(store, PartitionStore)
    await write(settings, range(50, 60))  # what this process's sink wrote while it owned p
    store.set(job_of("W55"), State.FINALIZED, 0)
    assert await catch_up(kafka=settings, store=store, partition=0) == 10
    states.close(store)
    store, again = await restore(kafka=settings, partition=0, state_dir=states)
    assert (again.records, again.rebuilt) == (0, None)
    states.close(store)


async def test_store_of_another_cluster_is_rebuilt(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=1)
    await write(settings, range(40))
    with state_dir(tmp_path / "s", max_bytes=2**30, cache_bytes=8 * 2**20, cluster="c1") as states:
        store, _ = await restore(kafka=settings, partition=0, state_dir=states)
        states.close(store)  # type: ignore[arg-type]
    with state_dir(tmp_path / "s", max_bytes=2**30, cache_bytes=8 * 2**20, cluster="c2") as states:
        store, report = await restore(kafka=settings, partition=0, state_dir=states)
        assert (report.records, report.rebuilt) == (40, "fingerprint")


async def recreate(settings: KafkaSettings) -> None:
    async with admin_client(settings) as admin:
        await admin.delete_topics([settings.jobs_topic, settings.state_topic, settings.dlq_topic])
    for _ in range(60):
        try:
            await topics.ensure(settings, partitions=1, replication=1)
            return
        except (KafkaError, ClusterError):  # still being deleted
            await asyncio.sleep(0.5)
    raise AssertionError("topics not recreated")


async def test_recreated_state_topic_is_noticed(make_topics: MakeTopics, states: StateDir) -> None:
    settings = await make_topics(partitions=1)
    await write(settings, range(100))
    store, _ = await restore(kafka=settings, partition=0, state_dir=states)
    states.close(store)  # type: ignore[arg-type]
    await recreate(settings)
    await write(settings, range(1000, 1150))  # more records than before: the checkpoint is within the end
    store, report = await restore(kafka=settings, partition=0, state_dir=states)
    assert (report.records, report.rebuilt) == (150, "marker-mismatch")
    assert store.get(job_of("W1")) is None and store.get(job_of("W1001")) == (State.FINALIZED, 0)
    states.close(store)  # type: ignore[arg-type]
    await recreate(settings)
    await write(settings, range(10))  # fewer: the checkpoint is beyond the end
    store, report = await restore(kafka=settings, partition=0, state_dir=states)
    assert (report.records, report.rebuilt) == (10, "beyond-end")
    states.close(store)  # type: ignore[arg-type]


async def test_corrupted_or_deleted_store_is_rebuilt(make_topics: MakeTopics, states: StateDir) -> None:
    settings = await make_topics(partitions=1)
    await write(settings, range(60))
    store, _ = await restore(kafka=settings, partition=0, state_dir=states)
    assert isinstance(store, PartitionStore)
    path = store.path
    states.close(store)
    for name in os.listdir(path):  # every file of the store overwritten with garbage
        if (path / name).is_file():
            (path / name).write_bytes(b"\x13garbage" * 64)
    store, report = await restore(kafka=settings, partition=0, state_dir=states)
    assert (report.records, report.rebuilt) == (60, "new")
    assert store.get(job_of("W59")) == (State.FINALIZED, 0)
    states.close(store)  # type: ignore[arg-type]
    shutil.rmtree(path)
    store, report = await restore(kafka=settings, partition=0, state_dir=states)
    assert (report.records, report.rebuilt) == (60, "new")
    states.close(store)  # type: ignore[arg-type]


async def test_store_held_elsewhere_restores_into_memory(
    make_topics: MakeTopics, states: StateDir, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=1)
    await write(settings, range(30))
    held, _ = await restore(kafka=settings, partition=0, state_dir=states)
    with state_dir(tmp_path / "state", max_bytes=2**30, cache_bytes=8 * 2**20, cluster="c1") as other:
        store, report = await restore(kafka=settings, partition=0, state_dir=other)
    assert isinstance(store, StateStore) and report.records == 30
    states.close(held)  # type: ignore[arg-type]


def test_least_recently_used_closed_stores_are_dropped(tmp_path: Path) -> None:
    with state_dir(tmp_path / "state", max_bytes=2**30, cache_bytes=8 * 2**20, cluster="c1") as states:
        stores = [states.open("t", p) for p in range(3)]
        for i, store in enumerate(stores):
            store.set(f"{i:064x}", State.FINALIZED, 0)
        for store in stores:
            states.close(store)
        sizes = sorted(p.name for p in (tmp_path / "state").iterdir())
        assert sizes == ["t-0", "t-1", "t-2"]
        one = sum(f.stat().st_size for f in (tmp_path / "state" / "t-2").rglob("*") if f.is_file())
        states.max_bytes = one + one // 2  # room for about one store
        kept = states.open("t", 2)  # open: never dropped, whatever its age
        assert states.evict() >= 2
        assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["t-2"]
        assert kept.get(f"{2:064x}") == (State.FINALIZED, 0)
