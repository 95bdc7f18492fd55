"""Consumer processes under faults: slow origin, kill -9, a SIGSTOPped zombie, rebalances."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.conftest import MakeTopics
from tests.faults.harness.process import ProcessPool
from tests.faults.harness.waiting import poll_until
from tests.integration.consumer_harness import check_invariants, make_job, options, origin, seed

RUN_TIMEOUT_S = 180.0  # every scenario here settles in well under a minute; this only catches a hang


async def test_slow_origin_does_not_get_the_consumer_evicted(make_topics: MakeTopics, tmp_path: Path) -> None:
    """Responses 4x longer than max_poll_interval: the poll loop keeps polling, no rebalance happens."""
    settings = await make_topics(partitions=2)
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        slow = [make_job(farm.url(f"/slow/12/s{i}"), work=f"S{i}") for i in range(2)]
        fast = [make_job(farm.url(f"/pdf/f{i}"), work=f"F{i}") for i in range(20)]
        await seed(settings, [*slow, *fast])
        timings = ("--max-poll-interval-ms", "3000")
        proc = pool.consumer("c0", options(settings, store, *timings, exit_when_idle_s=2, concurrency=3))
        assert await proc.wait(RUN_TIMEOUT_S) == 0, proc.tail()
    log = proc.log_text()
    assert log.count("event=assigned") == 1, log[-3000:]
    assert "event=revoked partitions=[0" not in log and "event=fenced" not in log
    assert farm.downloads() == 22  # nothing downloaded twice
    result = await check_invariants(settings, store)
    assert result.violations == []
    assert len(result.finalized_per_job) == 22


async def test_consumers_joining_and_leaving_lose_nothing(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=6)
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        jobs = [make_job(farm.url(f"/slow/0.05/w{i}"), work=f"W{i}") for i in range(600)]
        await seed(settings, jobs)
        first = pool.consumer("c0", options(settings, store, concurrency=8))
        await first.wait_for_log(r"event=restored", 30)
        others = []
        for n in (1, 2):
            await asyncio.sleep(2)
            others.append(pool.consumer(f"c{n}", options(settings, store, exit_when_idle_s=3, concurrency=8)))
        await asyncio.sleep(2)
        first.terminate()  # SIGTERM: drain, commit what is final, leave the group
        assert await first.wait(60) == 0, first.tail()
        late = pool.consumer("c3", options(settings, store, exit_when_idle_s=3, concurrency=8))
        for proc in [*others, late]:
            assert await proc.wait(RUN_TIMEOUT_S) == 0, proc.tail()
    result = await check_invariants(settings, store)
    redownloads = farm.downloads() - len(jobs)
    print(
        f"\nrebalances: {sum(p.log_text().count('event=assigned') for p in pool.processes)}, "
        f"re-downloads {redownloads}"
    )
    assert result.violations == []
    assert sorted(result.finalized_per_job.values()) == [1] * len(jobs)


@pytest.mark.faults
@pytest.mark.parametrize("guarantee", ["exactly-once", "at-least-once"])
async def test_kill_9_at_random_moments_loses_nothing(
    make_topics: MakeTopics, tmp_path: Path, guarantee: str
) -> None:
    settings = await make_topics(partitions=6)
    store = tmp_path / "store"
    rng = random.Random(4)
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        jobs = [make_job(farm.url(f"/slow/0.5/w{i}"), work=f"W{i}") for i in range(900)]
        await seed(settings, jobs)
        flags = ("--guarantee", guarantee)
        procs = [pool.consumer(f"c{n}", options(settings, store, *flags, concurrency=4)) for n in range(3)]
        for kill in range(3):
            await asyncio.sleep(rng.uniform(3, 7))
            victim = rng.randrange(3)
            procs[victim].kill()
            await procs[victim].wait(10)
            procs[victim] = pool.consumer(
                f"c{victim}-r{kill}", options(settings, store, *flags, concurrency=4)
            )
        finishers = [
            pool.consumer(f"f{n}", options(settings, store, *flags, exit_when_idle_s=3)) for n in range(1)
        ]
        await finishers[0].wait_for_log(r"event=restored", 60)
        for proc in procs:
            proc.terminate()
        for proc in [*procs, *finishers]:
            assert await proc.wait(RUN_TIMEOUT_S) == 0, proc.tail()
    result = await check_invariants(settings, store, timeout_s=60)
    redownloads = farm.downloads() - len(jobs)
    print(f"\n{guarantee} kill -9 x3: re-downloads {redownloads} of {len(jobs)} jobs")
    assert result.violations == []
    assert sorted(result.finalized_per_job.values()) == [1] * len(jobs)


@pytest.mark.parametrize(
    "guarantee", ["exactly-once", pytest.param("at-least-once", marks=pytest.mark.faults)]
)
async def test_zombie_after_sigstop_finalizes_nothing_twice(
    make_topics: MakeTopics, tmp_path: Path, guarantee: str
) -> None:
    """SIGSTOP a consumer holding slow downloads past the session timeout; the group moves on; SIGCONT."""
    settings = await make_topics(partitions=2)
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        jobs = [make_job(farm.url(f"/slow/3/w{i}"), work=f"W{i}") for i in range(24)]
        zombie = pool.consumer("zombie", options(settings, store, "--guarantee", guarantee, concurrency=24))
        await zombie.wait_for_log(r"event=restored", 30)
        await seed(settings, jobs)
        await poll_until(lambda: farm.downloads() >= 10, timeout_s=30, interval_s=0.05, what="downloads")
        zombie.pause()
        heir = pool.consumer("heir", options(settings, store, "--guarantee", guarantee, exit_when_idle_s=4))
        await heir.wait_for_log(r"event=assigned epoch=\d+ partitions=\[0, 1\]", 40)
        await heir.wait_for_log(r"event=idle", RUN_TIMEOUT_S)  # the heir redid everything
        zombie.resume()
        await asyncio.sleep(8)  # the zombie's downloads end; its late records must stay invisible
        zombie.terminate()
        assert await zombie.wait(60) == 0, zombie.tail()
        assert await heir.wait(60) == 0, heir.tail()
    result = await check_invariants(settings, store)
    duplicates = sum(n - 1 for n in result.finalized_per_job.values())
    print(
        f"\n{guarantee}: zombie fenced lines {zombie.log_text().count('event=fenced')}, "
        f"duplicate visible FINALIZED {duplicates}"
    )
    assert len(result.finalized_per_job) == len(jobs)
    if guarantee == "exactly-once":
        assert duplicates == 0
        assert result.violations == []
    else:
        assert all(v.startswith("duplicate-finalized") for v in result.violations)
