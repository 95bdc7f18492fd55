"""`--exit-when-idle` in a batch run means the group is done (issue 10): three consumers, one killed -9
twice while working; the survivors exit 0 only once every job is terminal and committed.

The second kill leaves jobs open on the victim's partitions, and the session timeout is far longer than
the survivors' own work: before the fix the first survivor exited then, with the victim's jobs open.
Which partitions the restarted victim gets, and how much of their work is left by then, depends on the
machine's load; so a second batch is seeded once it holds partitions again, answered slowly until the kill,
which leaves open work on every partition whatever the victim got.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from producer.statereader import read_state
from schemas import JobMessage, KafkaSettings
from schemas.topics import partition_for_key
from tests.conftest import MakeTopics
from tests.faults.harness import ProcessPool
from tests.faults.harness.origin import Origin
from tests.faults.harness.process import ManagedProcess
from tests.faults.harness.waiting import poll_until
from tests.faults.scenario import _with_idle, conclude, jobs_for, options, publish, terminal_count
from tests.faults.test_consumer_faults import assert_invariants

pytestmark = pytest.mark.faults

PARTITIONS = 6
JOBS = 240
BODY_DELAY_S = 0.5
IDLE_S = 2.0  # well below the session timeout: idling alone must not end a survivor early
SESSION_MS = "20000"  # far longer than the survivors' own work after the late kill: they must wait it out
LATE_JOBS = 90  # the second batch, seeded once the restarted victim holds partitions: ~15 per partition
LATE_DELAY_S = 4.0  # how slowly the origin answers from the second batch until the second kill
BUSY_JOBS = 3  # the second kill comes while the victim's partitions have at least this many jobs open
RUN_TIMEOUT_S = 180.0  # a few seconds of downloads and two rebalances; this only catches a hang


async def _terminal_reaches(settings: KafkaSettings, jobs: list[JobMessage], share: float) -> None:
    ids = {j.job_id for j in jobs}

    async def reached() -> bool:
        return await terminal_count(settings, ids) >= share * len(ids)

    await poll_until(reached, timeout_s=RUN_TIMEOUT_S, interval_s=0.3, what=f"{share:.0%} terminal")


def _assigned(proc: ManagedProcess) -> set[int]:
    """The partitions of the process's latest assignment, from its log."""
    found = re.findall(r"event=assigned epoch=\d+ partitions=\[([\d, ]*)\]", proc.log_text())
    return {int(p) for p in found[-1].split(",") if p.strip()} if found else set()


async def _open_on(settings: KafkaSettings, jobs: list[JobMessage], partitions: set[int]) -> int:
    """Jobs of `partitions` without a terminal record yet."""
    latest = (await read_state(settings)).latest
    mine = [j for j in jobs if partition_for_key(j.job_id.encode(), PARTITIONS) in partitions]
    return sum(1 for j in mine if (r := latest.get(j.job_id)) is None or not r.state.terminal)


async def _busy(settings: KafkaSettings, jobs: list[JobMessage], victim: ManagedProcess) -> None:
    """Until the victim holds partitions with at least BUSY_JOBS open jobs."""

    async def ready() -> bool:
        return await _open_on(settings, jobs, _assigned(victim)) >= BUSY_JOBS

    await poll_until(ready, timeout_s=RUN_TIMEOUT_S, interval_s=0.3, what="the victim busy")


async def _first_exit(procs: list[ManagedProcess]) -> int:
    """Wait until one of `procs` exits; return its code (the caller waits for the rest)."""
    waits = [asyncio.create_task(p.wait(RUN_TIMEOUT_S)) for p in procs]
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return done.pop().result()


async def test_three_consumers_exit_when_idle_only_when_the_group_is_done(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    async with Origin(body_delay_s=BODY_DELAY_S) as origin, ProcessPool(tmp_path / "logs") as pool:
        jobs = jobs_for(origin, JOBS)
        await publish(settings, list(jobs))
        base = options(settings, store)
        opts = _with_idle(
            replace(base, extra_args=(*base.extra_args, "--session-timeout-ms", SESSION_MS)), IDLE_S
        )
        survivors = [pool.consumer(f"c{i}", opts) for i in range(2)]
        victim = pool.consumer("victim", opts)
        await _terminal_reaches(settings, jobs, 0.15)
        victim.kill()
        assert await victim.wait(5) == -signal.SIGKILL
        victim = pool.consumer("victim-again", opts)
        await victim.wait_for_log(r"event=restored", timeout_s=60)  # it holds partitions again, working
        origin.body_delay_s = LATE_DELAY_S
        late = jobs_for(origin, LATE_JOBS, prefix="L", first=JOBS)
        await publish(settings, list(late))
        jobs = [*jobs, *late]
        await _busy(settings, jobs, victim)
        victim.kill()
        assert await victim.wait(5) == -signal.SIGKILL
        origin.body_delay_s = BODY_DELAY_S
        killed_at = time.monotonic()
        left_behind = await _open_on(settings, jobs, _assigned(victim))
        assert left_behind > 0, "the second kill must leave work on the dead member's partitions"
        first_exit = await _first_exit(survivors)
        # A process that exits 0 says the group is done: by now every job must be terminal (before the
        # fix the first survivor left with the dead member's jobs open; the rebalance its leaving caused
        # then handed them to the other survivor, which hid the bug when only the last exit was checked).
        terminal_at_first_exit = await terminal_count(settings, {j.job_id for j in jobs})
        codes = [await p.wait(RUN_TIMEOUT_S) for p in survivors]
        exited_after_s = time.monotonic() - killed_at
        assert first_exit == 0 and codes == [0, 0], [p.tail() for p in survivors]
        assert terminal_at_first_exit == len(jobs)
        outcome, _report = await conclude(
            "3 consumers --exit-when-idle, one killed -9 twice", settings, store, origin=origin, jobs=jobs,
            guarantee="exactly-once", recover_s=exited_after_s, open_at_fault=left_behind,
        )  # fmt: skip
    assert_invariants(outcome.violations)
    assert outcome.finalized == len(jobs) and outcome.pending == 0
