"""Consumer-process faults on the session broker: kill -9, SIGTERM mid-download, zombie, poison, re-seed.

Each scenario seeds jobs against a loopback origin, injects its fault while real consumer processes
run, settles with an `--exit-when-idle` consumer, then audits (settled, no grace) and records a row.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import MakeTopics
from tests.faults.harness import ProcessPool
from tests.faults.harness.origin import Origin
from tests.faults.harness.waiting import poll_until
from tests.faults.scenario import conclude, jobs_for, open_jobs, options, publish, settle, wait_all_terminal

pytestmark = pytest.mark.faults

PARTITIONS = 6
KILLS = 4
SESSION_S = 6.0  # matches scenario.options' --session-timeout-ms


def assert_invariants(violations: dict[str, int], *, duplicates_allowed: bool = False) -> None:
    """No job lost, no committed offset past an unfinished job, every artifact intact."""
    checked = {k: n for k, n in violations.items() if not (duplicates_allowed and k == "duplicate-finalized")}
    assert checked == dict.fromkeys(checked, 0), violations


@pytest.mark.ci
async def test_kill9_consumers_at_random_moments(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=PARTITIONS)
    store, rng = tmp_path / "store", random.Random(7)
    async with Origin(body_delay_s=0.2) as origin, ProcessPool(tmp_path / "logs") as pool:
        jobs = jobs_for(origin, 600)
        await publish(settings, list(jobs))
        opts = options(settings, store)
        running = [pool.consumer(f"c{i}", opts) for i in range(2)]
        await _wait_requests(origin, 16, timeout_s=60)
        open_at_fault = await open_jobs(settings, jobs)
        for kill in range(KILLS):
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            assert await open_jobs(settings, jobs) > 0, "every kill must hit a run with work left"
            victim = running.pop(rng.randrange(len(running)))
            victim.kill()
            assert await victim.wait(5) == -signal.SIGKILL
            running.append(pool.consumer(f"r{kill}", opts))
        fault_over = time.monotonic()
        await wait_all_terminal(settings, jobs, timeout_s=180)
        recover_s = time.monotonic() - fault_over
        for proc in running:
            proc.terminate()
            assert await proc.wait(30) == 0, proc.tail()
        await settle(pool, opts)
        outcome, _report = await conclude(
            "kill -9 x4 of 2 consumers", settings, store, origin=origin, jobs=jobs,
            guarantee="exactly-once", recover_s=recover_s, open_at_fault=open_at_fault,
        )  # fmt: skip
    assert_invariants(outcome.violations)
    assert outcome.finalized == len(jobs) and outcome.duplicates == 0


@pytest.mark.ci
async def test_poison_messages_go_to_the_dlq_and_partitions_move(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    poison = [b"not json", b'{"schema": 99}', b'{"schema": 1, "job_id": "nope"}', b"\xff\xfe"]
    async with Origin() as origin, ProcessPool(tmp_path / "logs") as pool:
        jobs = jobs_for(origin, 60)
        await publish(settings, [*jobs[:30], *poison, *jobs[30:], *poison])
        await settle(pool, options(settings, store))
        outcome, report = await conclude(
            "poison messages",
            settings,
            store,
            origin=origin,
            jobs=jobs,
            guarantee="exactly-once",
            recover_s=None,
        )
    assert_invariants(outcome.violations)
    assert outcome.finalized == len(jobs)
    assert report.counts["poison"] == 2 * len(poison)  # each one checked against its DLQ record by audit


@pytest.mark.ci
@pytest.mark.parametrize("guarantee", ["exactly-once", "at-least-once"])
async def test_zombie_consumer_is_fenced(make_topics: MakeTopics, tmp_path: Path, guarantee: str) -> None:
    """SIGSTOP a consumer holding slow downloads past the session timeout; the group finishes; SIGCONT."""
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    async with Origin(body_delay_s=SESSION_S / 2) as origin, ProcessPool(tmp_path / "logs") as pool:
        jobs = jobs_for(origin, 48)
        await publish(settings, list(jobs))
        opts = options(settings, store, guarantee=guarantee)
        zombie = pool.consumer("zombie", opts)
        await _wait_requests(origin, 4, timeout_s=60)  # the zombie is mid-download
        zombie.pause()
        survivor = pool.consumer("survivor", opts)
        await asyncio.sleep(SESSION_S * 1.5)  # the zombie's session expires; the survivor takes all
        zombie.resume()
        fault_over = time.monotonic()
        await wait_all_terminal(settings, jobs, timeout_s=180)
        recover_s = time.monotonic() - fault_over
        await asyncio.sleep(SESSION_S / 2 + 1)  # let the zombie's in-flight downloads end and try to commit
        for proc in (zombie, survivor):
            proc.terminate()
            await proc.wait(30)
        await settle(pool, opts)
        outcome, _report = await conclude(
            "zombie (SIGSTOP past session timeout, SIGCONT)", settings, store, origin=origin, jobs=jobs,
            guarantee=guarantee, recover_s=recover_s,
        )  # fmt: skip
    exactly_once = guarantee == "exactly-once"
    assert_invariants(outcome.violations, duplicates_allowed=not exactly_once)
    assert outcome.finalized == len(jobs)
    if exactly_once:
        assert outcome.duplicates == 0


async def test_sigterm_mid_download_drains_and_exits_zero(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    async with Origin(body_delay_s=1.0) as origin, ProcessPool(tmp_path / "logs") as pool:
        jobs = jobs_for(origin, 40)
        await publish(settings, list(jobs))
        opts = options(settings, store)
        first = pool.consumer("first", opts)
        await _wait_requests(origin, 4, timeout_s=60)
        first.terminate()
        started = time.monotonic()
        assert await first.wait(30) == 0, first.tail()
        drain_s = time.monotonic() - started
        await settle(pool, opts)
        outcome, _report = await conclude(
            "SIGTERM mid-download, restart", settings, store, origin=origin, jobs=jobs,
            guarantee="exactly-once", recover_s=drain_s,
        )  # fmt: skip
    assert_invariants(outcome.violations)
    assert outcome.finalized == len(jobs)


@pytest.mark.ci
async def test_assignment_while_draining_is_not_taken(make_topics: MakeTopics, tmp_path: Path) -> None:
    """SIGTERM to A mid-download, then B leaves at once (no drain): the group gives A every partition while
    A drains. A must not start work on them: it exits within its drain timeout (it once ran on forever)."""
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    async with Origin(body_delay_s=4.0) as origin, ProcessPool(tmp_path / "logs") as pool:
        jobs = jobs_for(origin, 40)
        await publish(settings, list(jobs))
        opts = options(settings, store)
        a = pool.consumer("a", opts)
        b = pool.consumer("b", replace(opts, extra_args=(*opts.extra_args, "--drain-timeout-s", "0")))
        for proc in (a, b):
            await proc.wait_for_log(r"event=assigned epoch=\d+ partitions=\[\d", timeout_s=60)
        await _wait_requests(origin, 4, timeout_s=60)
        a.terminate()
        started = time.monotonic()
        await a.wait_for_log(r"event=signal name=SIGTERM", timeout_s=10)
        b.terminate()
        assert await b.wait(30) == 0, b.tail()
        assert await a.wait(5 + 10) == 0, a.tail()  # drain timeout + grace
        drain_s = time.monotonic() - started
        after_signal = a.log_text().split("event=signal name=SIGTERM", 1)[1]
        assert "event=assigned" in after_signal, "no assignment reached A while it drained: nothing tested"
        assert "Traceback" not in after_signal and "ERROR" not in after_signal, after_signal[-3000:]
        await settle(pool, opts)
        outcome, _report = await conclude(
            "assignment while draining (SIGTERM, then the other member leaves)", settings, store,
            origin=origin, jobs=jobs, guarantee="exactly-once", recover_s=drain_s,
        )  # fmt: skip
    assert_invariants(outcome.violations)
    assert outcome.finalized == len(jobs) and outcome.duplicates == 0


async def test_reseed_during_run_downloads_nothing_new(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    async with Origin(body_delay_s=0.02) as origin, ProcessPool(tmp_path / "logs") as pool:
        jobs = jobs_for(origin, 200)
        await publish(settings, list(jobs))
        opts = options(settings, store)
        pool.consumer("c0", opts)
        await _wait_requests(origin, 50, timeout_s=60)
        await publish(settings, list(jobs))  # the same file seeded again while the first pass runs
        await wait_all_terminal(settings, jobs, timeout_s=180)
        settled_requests = origin.total_requests
        await settle(pool, opts)
        outcome, _report = await conclude(
            "re-seed of the same jobs during the run", settings, store, origin=origin, jobs=jobs,
            guarantee="exactly-once", recover_s=None,
        )  # fmt: skip
    assert_invariants(outcome.violations)
    assert outcome.finalized == len(jobs) and outcome.redownloads == 0
    assert origin.total_requests == settled_requests


async def _wait_requests(origin: Origin, count: int, *, timeout_s: float) -> None:
    await poll_until(
        lambda: origin.total_requests >= count, timeout_s=timeout_s, interval_s=0.05, what="origin requests"
    )
