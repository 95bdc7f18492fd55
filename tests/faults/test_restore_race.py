"""A consumer that starts while another is restoring a large state topic.

The state topic is pre-filled with FILLER_RECORDS terminal records of other jobs (FAILED, so audit needs
no artifacts for them), making each partition's restore last seconds. Consumer A starts and begins to
restore; consumer B starts while A is still restoring, so the group rebalances mid-restore (A's partitions
are revoked or moved while being read). Then: audit clean, one FINALIZED per job, no job lost.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from originfarm import Farm
from schemas import KafkaSettings, State, StateRecord, Status, encode, job_id_for_work
from tests.conftest import MakeTopics
from tests.faults.harness import ProcessPool
from tests.faults.scenario import (
    FarmDocs,
    conclude,
    farm_env,
    options,
    publish,
    settle,
    wait_all_terminal,
)
from tests.faults.test_consumer_faults import assert_invariants
from tests.faults.test_origin_faults import farm_jobs

pytestmark = pytest.mark.faults

PARTITIONS = 6
FILLER_RECORDS = 600_000  # restore reads them all: ~100k/s per process (RocksDB store), so seconds
FILL_BATCH = 5_000  # sends awaited together; the producer batches them (linger) into few requests
JOBS = 120


def filler(n: int) -> StateRecord:
    return StateRecord(
        job_id=job_id_for_work(f"filler-{n}"),
        work_id=f"filler-{n}",
        state=State.FAILED,
        status=Status.NOT_FOUND,
        attempt=0,
        owner="prefill",
        epoch=1,
        source_partition=0,
        source_offset=0,
        ts_ms=2_000,
    )


async def prefill_state(settings: KafkaSettings, count: int) -> float:
    """`count` filler records on the state topic (keyed, so spread over its partitions); records/s."""
    started = time.monotonic()
    producer = AIOKafkaProducer(**settings.client_options(), acks=1, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        for start in range(0, count, FILL_BATCH):
            sends = []
            for n in range(start, min(start + FILL_BATCH, count)):
                rec = filler(n)
                sends.append(await producer.send(settings.state_topic, encode(rec), key=rec.job_id.encode()))
            await asyncio.gather(*sends)
    finally:
        await producer.stop()
    return count / (time.monotonic() - started)


RESTORED = re.compile(r"event=restored partition=(\d+) records=(\d+) seconds=([\d.]+)")
EVENT = re.compile(r"event=(assigned|revoked|restored)\b.*?(?:partitions=\[([\d, ]*)\]|partition=(\d+))")


def revoked_while_restoring(log: str) -> set[int]:
    """Partitions this process was assigned and then lost before it had logged their restore."""
    restoring: set[int] = set()
    lost: set[int] = set()
    for kind, many, one in EVENT.findall(log):
        parts = {int(one)} if one else {int(p) for p in many.split(",") if p.strip()}
        if kind == "assigned":
            restoring |= parts
        elif kind == "restored":
            restoring -= parts
        else:
            lost |= restoring & parts
            restoring -= parts
    return lost


async def test_consumer_starts_while_another_restores(
    make_topics: MakeTopics, origin_farm: Farm, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    fill_rate = await prefill_state(settings, FILLER_RECORDS)
    jobs = farm_jobs(origin_farm, [("pdfs", f"/pdf/20000/{n}.pdf") for n in range(JOBS)], prefix="R")
    async with ProcessPool(tmp_path / "logs") as pool:
        await publish(settings, list(jobs))
        opts = replace(options(settings, store), env=farm_env(origin_farm, host_concurrency=8))
        a = pool.consumer("a", opts)
        await a.wait_for_log(r"event=assigned", timeout_s=60)
        assert not RESTORED.search(a.log_text()), "A finished restoring before B started: nothing raced"
        b = pool.consumer("b", opts)
        b_started = time.monotonic()
        restored_a_at_b = len(RESTORED.findall(a.log_text()))
        await wait_all_terminal(settings, jobs, timeout_s=240)
        recover_s = time.monotonic() - b_started
        for proc in (a, b):
            proc.terminate()
            assert await proc.wait(30) == 0, proc.tail()
        restores = [RESTORED.findall(p.log_text()) for p in (a, b)]
        cut_short = revoked_while_restoring(a.log_text())
        await settle(pool, opts)
        outcome, report = await conclude(
            f"consumer starts while another restores ({FILLER_RECORDS // 1000}k state records)",
            settings, store, origin=FarmDocs(origin_farm, "pdfs"), jobs=jobs, guarantee="exactly-once",
            recover_s=recover_s, open_at_fault=JOBS,
        )  # fmt: skip
    assert report.counts["failed"] == FILLER_RECORDS  # audit counts every latest record, fillers too
    outcome.failed -= FILLER_RECORDS  # the row counts the seeded jobs
    assert_invariants(outcome.violations)
    assert outcome.finalized == JOBS and outcome.failed == 0 and outcome.duplicates == 0
    assert outcome.redownloads == 0, outcome
    assert restores[1], "B never restored a partition: it did not take part"
    assert cut_short, "no partition of A was revoked mid-restore: the race did not happen"
    slowest = max(float(s) for r in restores for _, _, s in r)
    print(
        f"restore race: prefill {fill_rate:.0f} rec/s; A restored {restored_a_at_b} partitions before B "
        f"started; A lost {sorted(cut_short)} mid-restore; restores A={len(restores[0])} "
        f"B={len(restores[1])}; slowest {slowest:.1f}s"
    )
