"""Consumer processes on the real broker against a loopback origin: scale, reseeding, poison, refusal."""

from __future__ import annotations

import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas import KafkaSettings
from schemas.topicreader import iter_topic
from schemas.topics import DLQ_OFFSET, DLQ_REASON
from tests.conftest import MakeTopics
from tests.faults.harness.process import ProcessPool
from tests.integration.consumer_harness import check_invariants, make_job, options, origin, seed

RUN_TIMEOUT_S = 240.0  # 2,000 jobs on 2 shared cores take well under that; this only catches a hang
SCALE_JOBS = 2_000
SCALE_PROCESSES = 3


async def test_three_processes_finalize_2000_jobs_exactly_once(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=6)
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        jobs = [make_job(farm.url(f"/pdf/w{i}"), work=f"W{i}") for i in range(SCALE_JOBS)]
        started = time.monotonic()
        procs = [
            pool.consumer(f"c{n}", options(settings, store, exit_when_idle_s=4, concurrency=16))
            for n in range(SCALE_PROCESSES)
        ]
        await seed(settings, jobs)
        codes = [await p.wait(RUN_TIMEOUT_S) for p in procs]
        elapsed = time.monotonic() - started
        assert codes == [0] * SCALE_PROCESSES, [p.tail() for p in procs]
    result = await check_invariants(settings, store)
    print(
        f"\n{SCALE_JOBS} jobs x {SCALE_PROCESSES} processes: {elapsed:.1f}s incl. 4s idle exit; "
        f"origin requests {farm.downloads()}"
    )
    assert result.violations == []
    assert set(result.finalized_per_job) == {j.job_id for j in jobs}
    assert max(result.finalized_per_job.values()) == 1


async def test_same_jobs_seeded_twice_finalize_and_download_nothing_new(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=3)
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        jobs = [make_job(farm.url(f"/pdf/w{i}"), work=f"W{i}") for i in range(60)]
        await seed(settings, jobs)
        first = pool.consumer("first", options(settings, store, exit_when_idle_s=3))
        assert await first.wait(90) == 0, first.tail()
        hits_after_first = farm.downloads()
        await seed(settings, jobs)
        second = pool.consumer("second", options(settings, store, exit_when_idle_s=3))
        assert await second.wait(90) == 0, second.tail()
    assert hits_after_first == 60
    assert farm.downloads() == 60  # the second pass downloaded nothing
    result = await check_invariants(settings, store)
    assert result.violations == []
    assert sorted(result.finalized_per_job.values()) == [1] * 60  # and finalized nothing new


async def test_poison_goes_to_the_dlq_and_the_partition_keeps_moving(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=1)
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        good = [make_job(farm.url(f"/pdf/g{i}"), work=f"G{i}") for i in range(10)]
        poison = [b"not json", b'{"schema": 99, "job_id": "x"}', b'{"schema": 1, "job_id": "nope"}']
        await seed(settings, [good[0], poison[0], *good[1:5], poison[1], *good[5:], poison[2]])
        proc = pool.consumer("c0", options(settings, store, exit_when_idle_s=3))
        assert await proc.wait(90) == 0, proc.tail()
    dlq = [r async for r in iter_topic(settings, settings.dlq_topic)]
    reasons = sorted(dict(r.headers)[DLQ_REASON].decode() for r in dlq)
    assert reasons == ["schema-violation", "undecodable", "unknown-version"]
    assert sorted(int(dict(r.headers)[DLQ_OFFSET]) for r in dlq) == [1, 6, 12]
    assert sorted(r.value for r in dlq) == sorted(poison)
    result = await check_invariants(settings, store)
    assert result.violations == []
    assert len(result.finalized_per_job) == 10


async def _make_bad_topics(
    bootstrap: str, jobs: str, state: str, dlq: str, *, state_parts: int, policy: str
) -> None:
    admin = AIOKafkaAdminClient(**KafkaSettings(bootstrap_servers=bootstrap).client_options())
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(jobs, 3, 1),
                NewTopic(state, state_parts, 1, topic_configs={"cleanup.policy": policy}),
                NewTopic(dlq, 3, 1),
            ]
        )
    finally:
        await admin.close()


async def test_refuses_to_start_on_mismatched_partitions_or_uncompacted_state(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    s = kafka_settings
    await _make_bad_topics(
        s.bootstrap_servers, s.jobs_topic, s.state_topic, s.dlq_topic, state_parts=2, policy="delete"
    )
    async with ProcessPool(tmp_path / "logs") as pool:
        proc = pool.consumer("c0", options(s, tmp_path / "store"))
        code = await proc.wait(60)
    log = proc.log_text()
    assert code == 3, log
    assert "has 2 partitions but jobs topic" in log
    assert "cleanup.policy='delete'" in log


async def test_bad_setting_refuses_to_start_with_exit_2(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    async with ProcessPool(tmp_path / "logs") as pool:
        proc = pool.consumer("c0", options(kafka_settings, tmp_path / "store", concurrency=0))
        code = await proc.wait(60)
    assert code == 2, proc.log_text()
    assert "concurrency" in proc.log_text() and "DOCFETCH_CONCURRENCY" in proc.log_text()
