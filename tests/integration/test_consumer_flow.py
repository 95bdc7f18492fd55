"""Consumer processes on the real broker against a loopback origin: the happy path at scale, reseeding."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import MakeTopics
from tests.faults.harness.process import ProcessPool
from tests.integration.consumer_harness import check_invariants, make_job, options, origin, seed

RUN_TIMEOUT_S = 240.0  # 2,000 jobs on 2 shared cores take well under a minute; this catches a hang


async def test_small_run_finalizes_every_job_once(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=3)
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        jobs = [make_job(farm.url(f"/pdf/w{i}"), work=f"W{i}") for i in range(50)]
        await seed(settings, jobs)
        proc = pool.consumer("c0", options(settings, tmp_path / "store", exit_when_idle_s=3))
        assert await proc.wait(60) == 0, proc.tail()
    result = await check_invariants(settings, tmp_path / "store")
    assert result.violations == []
    assert set(result.finalized_per_job) == {j.job_id for j in jobs}
    assert max(result.finalized_per_job.values()) == 1
