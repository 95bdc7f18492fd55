"""Persistent state stores under faults: kill -9 while a store is written (restore, then jobs), a deleted
or corrupted state directory, a recreated state topic. Each time: no job that is not terminal is skipped,
no terminal job is done again (one FINALIZED per job, no second download of a finished job)."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from producer.commands import topics
from schemas.kafka import admin_client
from tests.conftest import MakeTopics
from tests.faults.harness import ProcessPool
from tests.faults.harness.origin import Origin
from tests.faults.harness.waiting import poll_until
from tests.faults.scenario import (
    conclude,
    jobs_for,
    open_jobs,
    options,
    publish,
    settle,
    terminal_count,
    wait_all_terminal,
)
from tests.faults.test_consumer_faults import assert_invariants
from tests.faults.test_restore_race import prefill_state

pytestmark = pytest.mark.faults

PARTITIONS = 4
FILLER_RECORDS = 240_000  # a restore of about a second or more per partition, even on a quiet machine
RESTORED = re.compile(r"event=restored partition=(\d+) records=(\d+) .* kind=(\w+) rebuilt=(\S+)")
REBUILD = re.compile(r"event=state-store-rebuild partition=(\d+) reason=(\S+)")


async def test_kill9_during_store_writes(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    await prefill_state(settings, FILLER_RECORDS)
    async with Origin(body_delay_s=0.2) as origin, ProcessPool(tmp_path / "logs") as pool:
        jobs = jobs_for(origin, 160)
        await publish(settings, list(jobs))
        opts = options(settings, store)
        first = pool.consumer("restoring", opts)
        await first.wait_for_log(r"event=state-store-rebuild", timeout_s=60)
        await asyncio.sleep(0.25)  # inside the restore (0.7 s for 30k records a partition was too late)
        assert len(RESTORED.findall(first.log_text())) < PARTITIONS, (
            "every restore finished: no kill mid-write"
        )
        first.kill()
        assert await first.wait(5) == -signal.SIGKILL

        second = pool.consumer("working", opts)
        await second.wait_for_log(r"event=restored", timeout_s=90)
        resumed = [m for m in RESTORED.findall(second.log_text()) if m[3] == "None" and int(m[1]) > 0]
        print(f"restores resumed from the checkpoint the kill left: {resumed}")
        ids = {j.job_id for j in jobs}

        async def some_done() -> bool:
            return await terminal_count(settings, ids) >= 40

        await poll_until(some_done, timeout_s=120, interval_s=0.2, what="40 jobs terminal")
        open_at_fault = await open_jobs(settings, jobs)
        assert open_at_fault > 0
        second.kill()  # jobs' own writes (store.set) and a revocation's catch-up are cut short
        assert await second.wait(5) == -signal.SIGKILL
        fault_over = time.monotonic()

        third = pool.consumer("after", opts)
        await wait_all_terminal(settings, jobs, timeout_s=180)
        recover_s = time.monotonic() - fault_over
        third.terminate()
        assert await third.wait(30) == 0, third.tail()
        warm = [m for m in RESTORED.findall(third.log_text()) if m[2] == "persistent" and m[3] == "None"]
        await settle(pool, opts)
        outcome, _report = await conclude(
            "kill -9 during state store writes", settings, store, origin=origin, jobs=jobs,
            guarantee="exactly-once", recover_s=recover_s, open_at_fault=open_at_fault,
        )  # fmt: skip
    outcome.failed -= FILLER_RECORDS
    assert_invariants(outcome.violations)
    assert outcome.finalized == len(jobs) and outcome.failed == 0 and outcome.duplicates == 0
    # Only jobs in flight at a kill may be downloaded twice (their PLANNED had no terminal record yet).
    assert outcome.redownloads <= 2 * options(settings, store).concurrency, outcome
    # Writes skip the WAL: a kill -9 before the first flush leaves no checkpoint, so the restore may be cold.
    print(f"restores from a checkpoint after the kills: {warm}")


def damage(state_dir: Path) -> list[str]:
    """Delete one half of the partition stores, overwrite every file of the other half with garbage."""
    damaged = []
    for i, path in enumerate(sorted(p for p in state_dir.iterdir() if p.is_dir())):
        if i % 2:
            shutil.rmtree(path)
            damaged.append(f"{path.name}:deleted")
        else:
            for f in path.iterdir():
                if f.is_file():
                    f.write_bytes(b"\x13not rocksdb" * 100)
            damaged.append(f"{path.name}:corrupted")
    return damaged


async def test_deleted_or_corrupted_state_dir_rebuilds(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    async with Origin() as origin, ProcessPool(tmp_path / "logs") as pool:
        jobs = jobs_for(origin, 80)
        await publish(settings, list(jobs))
        opts = options(settings, store)
        await settle(pool, opts)
        downloads = origin.total_requests
        damaged = damage(tmp_path / "state")
        assert len(damaged) == PARTITIONS, damaged
        await publish(settings, list(jobs))  # the same jobs again: all terminal, nothing to download
        await settle(pool, opts)
        log = pool.processes[-1].log_text()
        outcome, _ = await conclude(
            "deleted or corrupted state dir", settings, store, origin=origin, jobs=jobs,
            guarantee="exactly-once", recover_s=None,
        )  # fmt: skip
    assert origin.total_requests == downloads, "a terminal job was downloaded again"
    rebuilt = {int(p) for p, _reason in REBUILD.findall(log)}
    assert rebuilt == set(range(PARTITIONS)), log[-3000:]
    assert "event=state-store-unreadable" in log
    assert_invariants(outcome.violations)
    assert outcome.finalized == len(jobs) and outcome.duplicates == 0


async def test_recreated_state_topic_is_noticed(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    async with Origin() as origin, ProcessPool(tmp_path / "logs") as pool:
        opts = options(settings, store)
        await publish(settings, list(jobs_for(origin, 40, prefix="OLD")))
        await settle(pool, opts)
        async with admin_client(settings) as admin:
            await admin.delete_topics([settings.jobs_topic, settings.state_topic, settings.dlq_topic])
        for _ in range(60):  # deletion is asynchronous on the broker
            try:
                await topics.ensure(settings, partitions=PARTITIONS, replication=1)
                break
            except Exception:  # noqa: BLE001 - still marked for deletion
                await asyncio.sleep(0.5)
        jobs = jobs_for(origin, 200, prefix="NEW")  # more state than before: checkpoints within the end
        await publish(settings, list(jobs))
        await settle(pool, opts)
        log = pool.processes[-1].log_text()
        await wait_all_terminal(settings, jobs, timeout_s=30)
    reasons = dict(REBUILD.findall(log))
    assert set(reasons) == {str(p) for p in range(PARTITIONS)}, log[-3000:]
    assert set(reasons.values()) <= {"marker-mismatch", "beyond-end"}, reasons
