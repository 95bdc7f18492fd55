"""Politeness for the whole consumer group (issue 12 item 7), through real consumer processes: three
`docfetch-consumer run` in one group, each owning 1 of the jobs topic's 3 partitions, fetch 8 jobs each
from ONE loopback host. The rate the origin sees from the group stays within the configured per-host
rate (1 / DOCFETCH_HOST_MIN_INTERVAL_S): each member takes 1/3 of it (`set_group_share` on assignment).
Without the share every member would fetch at the full rate, three times the budget (~10/s here)."""

from __future__ import annotations

import itertools
import re
import time
from collections import defaultdict
from pathlib import Path

from schemas import JobMessage, job_id
from schemas.topics import partition_for_key
from tests.conftest import MakeTopics
from tests.faults.harness.process import ManagedProcess, ProcessPool
from tests.faults.harness.waiting import poll_until
from tests.integration.consumer_harness import (
    Origin,
    check_invariants,
    loopback_only,
    make_job,
    options,
    origin,
    seed,
)

PARTITIONS, PER_PARTITION = 3, 8
INTERVAL_S = 0.3  # the group's per-host minimum interval: 3.33 requests/s for the whole group
SLACK = 1.05  # the group's measured rate may exceed 1 / INTERVAL_S by 5 % (timer and clock jitter)
JOIN_TIMEOUT_S = 60.0
ASSIGNED = re.compile(r"event=assigned epoch=\d+ partitions=\[([\d, ]*)\]")


def spread_jobs(farm: Origin) -> dict[int, list[JobMessage]]:
    """PER_PARTITION jobs for each partition, all on the farm's host. The seeder keys a job by its id and
    Kafka's default partitioner (murmur2) places it: pick work ids whose job ids land 8/8/8."""
    by_partition: dict[int, list[JobMessage]] = {p: [] for p in range(PARTITIONS)}
    works = (f"W{i}" for i in itertools.count())
    while any(len(jobs) < PER_PARTITION for jobs in by_partition.values()):
        work = next(works)
        p = partition_for_key(job_id(work_id=work, url=None).encode(), PARTITIONS)
        if len(by_partition[p]) < PER_PARTITION:
            by_partition[p].append(make_job(farm.url(f"/pdf/p{p}/{work}"), work=work))  # the path names p
    return by_partition


def owned(proc: ManagedProcess) -> tuple[int, ...]:
    """The partitions of `proc`'s latest assignment (aiokafka rebalances eagerly: all it owns)."""
    assigned = ASSIGNED.findall(proc.log_text())
    return tuple(int(p) for p in assigned[-1].split(",") if p.strip()) if assigned else ()


async def wait_one_partition_each(procs: list[ManagedProcess]) -> list[tuple[int, ...]]:
    """Until every member owns one partition: the group is stable (each took 1/3 of the host's budget)."""

    def settled() -> list[tuple[int, ...]] | None:
        for proc in procs:
            assert proc.alive, f"{proc.name} exited:\n{proc.tail()}"
        assignment = [owned(proc) for proc in procs]
        return assignment if sorted(assignment) == [(p,) for p in range(PARTITIONS)] else None

    found: list[tuple[int, ...]] = await poll_until(
        settled, timeout_s=JOIN_TIMEOUT_S, interval_s=0.2, what="one partition per member"
    )
    return found


def group_rate_per_s(farm: Origin) -> float:
    """The group's rate to the host: the sum of its members' rates. Each member owns one partition, so a
    partition's requests (named in the path) are one member's; its rate is (n - 1) / span. (robots.txt
    requests cannot be told apart by member and are left out; they only lower a member's rate.)"""
    arrivals: dict[str, list[float]] = defaultdict(list)
    for at_s, path in farm.arrivals:
        if path.startswith("/pdf/p"):
            arrivals[path.split("/")[2]].append(at_s)
    assert sorted(arrivals) == [f"p{p}" for p in range(PARTITIONS)]
    assert all(len(times) == PER_PARTITION for times in arrivals.values()), arrivals
    return sum((len(t) - 1) / (max(t) - min(t)) for t in arrivals.values())


async def test_three_consumers_share_one_hosts_rate(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        jobs = spread_jobs(farm)
        opts = loopback_only(options(settings, store), farm, DOCFETCH_HOST_MIN_INTERVAL_S=str(INTERVAL_S))
        procs = [pool.consumer(f"c{n}", opts) for n in range(PARTITIONS)]
        assignment = await wait_one_partition_each(procs)
        started = time.monotonic()
        await seed(settings, [job for p in range(PARTITIONS) for job in jobs[p]])
        total = PARTITIONS * PER_PARTITION
        await poll_until(
            lambda: farm.downloads() >= total, timeout_s=60, interval_s=0.2, what=f"{total} downloads"
        )
        elapsed = time.monotonic() - started
        assert [owned(proc) for proc in procs] == assignment  # no rebalance since
        result = await check_invariants(settings, store)
        for proc in procs:
            proc.terminate()
        assert [await proc.wait(30) for proc in procs] == [0] * PARTITIONS, [p.tail() for p in procs]
    assert result.violations == []
    assert set(result.finalized_per_job) == {j.job_id for p in jobs.values() for j in p}
    rate = group_rate_per_s(farm)
    print(f"\ngroup rate {rate:.2f}/s (configured {1 / INTERVAL_S:.2f}/s), {total} jobs in {elapsed:.1f}s")
    assert rate <= SLACK / INTERVAL_S, f"group rate {rate:.2f}/s, configured {1 / INTERVAL_S:.2f}/s"
