"""Origin faults through real consumer processes, Kafka and the download engine, against the origin farm.

Hosts that flap between 503 and 200, stall mid-body, or close the connection mid-body. Each scenario seeds
jobs, lets two consumers settle, audits (settled, no grace) and records a row. Jobs the engine could not
fetch end FAILED with a retryable status; the operator's `requeue` (run here as a process) then finishes
them, which is how a flapping or cutting host recovers.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx2 as httpx
import pytest

from originfarm import Farm
from producer.statereader import read_state
from schemas import Candidate, JobMessage, KafkaSettings, State, Tier, job_id_for_work
from tests.conftest import MakeTopics
from tests.faults.harness import ProcessPool
from tests.faults.harness.waiting import poll_until
from tests.faults.scenario import SEEDED_AT_MS, FarmDocs, conclude, farm_env, options, publish, settle
from tests.faults.test_consumer_faults import assert_invariants

pytestmark = pytest.mark.faults

PARTITIONS = 6
CONSUMERS = 2
REQUEUE_ROUNDS = 6  # a flapping host recovers within a few attempts; more would hide a real bug
# Engine timings scaled down from production (60 s breaker cooldown, 30 s read timeout) so a scenario
# lasts tens of seconds; retries and the breaker themselves stay on, as in production.
ENGINE = {"breaker_cooldown_s": 2.0, "host_concurrency": 4, "job_deadline_s": 30.0}


def farm_jobs(farm: Farm, paths: list[tuple[str, str]], *, prefix: str) -> list[JobMessage]:
    """Job n fetches (host, path) n of `paths` from the farm."""
    return [
        JobMessage(
            job_id=job_id_for_work(f"{prefix}{n}"),
            work_id=f"{prefix}{n}",
            candidates=(Candidate(url=farm.url(host, path), tier=Tier.OA_PDF),),
            source="faults",
            seeded_at_ms=SEEDED_AT_MS,
        )
        for n, (host, path) in enumerate(paths)
    ]


async def latest_by_job(
    settings: KafkaSettings, jobs: list[JobMessage], *, min_attempt: int = 0
) -> dict[str, tuple[str, str]]:
    """(state, status) of each job's latest record; jobs without one are absent, and so are jobs whose
    latest record is not FINALIZED and of an attempt below `min_attempt` (a requeue not yet taken)."""
    snapshot = await read_state(settings)
    return {
        j.job_id: (r.state.value, str(r.status))
        for j in jobs
        if (r := snapshot.latest.get(j.job_id)) is not None
        and (r.attempt >= min_attempt or r.state is State.FINALIZED)
    }


async def wait_jobs(
    settings: KafkaSettings,
    jobs: list[JobMessage],
    done: Callable[[str, str], bool],
    *,
    timeout_s: float,
    min_attempt: int = 0,
) -> float:
    """Seconds until every job's latest record (see `latest_by_job`) satisfies `done(state, status)`."""
    started = time.monotonic()

    async def probe() -> bool:
        latest = await latest_by_job(settings, jobs, min_attempt=min_attempt)
        return len(latest) == len(jobs) and all(done(*v) for v in latest.values())

    await poll_until(probe, timeout_s=timeout_s, interval_s=1.0, what=f"{len(jobs)} jobs")
    return time.monotonic() - started


def terminal(state: str, _status: str) -> bool:
    return state in (State.FINALIZED.value, State.FAILED.value)


def finalized(state: str, _status: str) -> bool:
    return state == State.FINALIZED.value


async def requeue(pool: ProcessPool, settings: KafkaSettings, rnd: int) -> str:
    """`docfetch-producer requeue` (every retryable status) as an operator runs it; its output."""
    argv = [sys.executable, "-m", "producer", "requeue", "--bootstrap", settings.bootstrap_servers]
    argv += ["--jobs-topic", settings.jobs_topic, "--state-topic", settings.state_topic]
    argv += ["--dlq-topic", settings.dlq_topic, "--group", settings.group_id]
    proc = pool.spawn(f"requeue-{rnd}", argv)
    assert await proc.wait(60) == 0, proc.tail()
    return proc.tail()


async def run_pass(
    pool: ProcessPool,
    settings: KafkaSettings,
    store: Path,
    env: dict[str, str],
    jobs: list[JobMessage],
    *,
    attempt: int = 0,
) -> tuple[float, Counter[tuple[str, str]]]:
    """Two consumers until every job is terminal (at `attempt` unless FINALIZED before), then SIGTERM and
    a settling consumer; seconds, outcomes."""
    opts = replace(options(settings, store), env=env)
    started = time.monotonic()
    running = [pool.consumer(f"c{len(pool.processes)}-{i}", opts) for i in range(CONSUMERS)]
    await wait_jobs(settings, jobs, terminal, timeout_s=240, min_attempt=attempt)
    elapsed = time.monotonic() - started
    for proc in running:
        proc.terminate()
        assert await proc.wait(30) == 0, proc.tail()
    await settle(pool, opts)
    return elapsed, Counter((await latest_by_job(settings, jobs)).values())


async def requeue_until_finalized(
    pool: ProcessPool, settings: KafkaSettings, store: Path, env: dict[str, str], jobs: list[JobMessage]
) -> tuple[int, float]:
    """Requeue the retryable failures and run again until every job is FINALIZED; rounds and seconds."""
    started = time.monotonic()
    for rnd in range(1, REQUEUE_ROUNDS + 1):
        out = await requeue(pool, settings, rnd)
        assert "requeued" in out, out
        await run_pass(pool, settings, store, env, jobs, attempt=rnd)
        latest = await latest_by_job(settings, jobs)
        if all(finalized(*v) for v in latest.values()):
            return rnd, time.monotonic() - started
    raise AssertionError(f"not all FINALIZED after {REQUEUE_ROUNDS} requeues: {Counter(latest.values())}")


async def test_farm_flap_and_cut_routes(origin_farm: Farm) -> None:
    """The two routes these scenarios add to the farm behave as documented."""
    async with httpx.AsyncClient(timeout=5) as client:
        cut = origin_farm.url("pdfs", "/cut/1/x.pdf")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(cut)
        whole = await client.get(cut)
        assert whole.status_code == 200 and whole.content.rstrip().endswith(b"%%EOF")
        codes = set()
        for _ in range(12):
            codes.add((await client.get(origin_farm.url("pdfs", "/flap/100/y.pdf"))).status_code)
            time.sleep(0.05)  # noqa: ASYNC251 - walk the farm's clock through both halves of a period
        assert codes == {200, 503}


FLAP_CASES = {
    # 503 for 2 s, then 200 for 2 s: three tries backing off 0.5 s and 1 s (jittered) carry a job over
    # most 503 phases, the breaker (5 failures) and unlucky jitter do not
    "retries": {"period_ms": 2000, "job_deadline_s": 30.0, "statuses": {"remote-server-error"}},
    # the same host with a 1 s job deadline: a job landing in a 503 phase runs out of time
    "short deadline": {
        "period_ms": 2000,
        "job_deadline_s": 1.0,
        "statuses": {"remote-server-error", "budget-exhausted"},
    },
}


@pytest.mark.parametrize("case", list(FLAP_CASES))
async def test_host_flapping_between_503_and_200(
    make_topics: MakeTopics, origin_farm: Farm, tmp_path: Path, case: str
) -> None:
    spec = FLAP_CASES[case]
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    env = farm_env(origin_farm, **{**ENGINE, "job_deadline_s": spec["job_deadline_s"]})
    paths = [("pdfs", f"/flap/{spec['period_ms']}/{n}.pdf") for n in range(120)]
    jobs, docs = farm_jobs(origin_farm, paths, prefix="P"), FarmDocs(origin_farm, "pdfs")
    name = f"origin: host flapping 503/200 every {spec['period_ms'] / 1000:g} s, {case}"
    async with ProcessPool(tmp_path / "logs") as pool:
        await publish(settings, list(jobs))
        first_s, outcomes = await run_pass(pool, settings, store, env, jobs)
        first, _ = await conclude(
            f"{name} (first pass)", settings, store, origin=docs, jobs=jobs, guarantee="exactly-once",
            recover_s=first_s,
        )  # fmt: skip
        assert_invariants(first.violations)
        # what the retries inside the job do not carry over a 503 phase ends FAILED with a retryable
        # status the config implies, and nothing else
        failed = {status for state, status in outcomes if state == "FAILED"}
        assert failed <= spec["statuses"], outcomes
        assert first.finalized > 0 and first.duplicates == 0
        print(f"{name}: first pass {dict(outcomes)}")
        if first.failed == 0:
            return
        rounds, recover_s = await requeue_until_finalized(pool, settings, store, env, jobs)
        outcome, _ = await conclude(
            f"{name}, then {rounds} requeue round(s)", settings, store, origin=docs, jobs=jobs,
            guarantee="exactly-once", recover_s=recover_s,
        )  # fmt: skip
    assert_invariants(outcome.violations)
    assert outcome.finalized == len(jobs) and outcome.failed == 0 and outcome.duplicates == 0


async def test_host_stalling_mid_body(make_topics: MakeTopics, origin_farm: Farm, tmp_path: Path) -> None:
    """Every fourth job stalls after 1 KiB of body; those end timeout, the rest finalize around them."""
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    env = farm_env(origin_farm, **ENGINE, read_timeout_s=1.0, retry_backoff_s=0.2)
    paths = [
        ("pdfs", f"/stall/{n}.pdf") if n % 4 == 0 else ("polite", f"/pdf/20000/{n}.pdf") for n in range(80)
    ]
    jobs = farm_jobs(origin_farm, paths, prefix="S")
    stalled = [j for j, (host, _) in zip(jobs, paths, strict=True) if host == "pdfs"]
    healthy = [j for j in jobs if j not in stalled]
    async with ProcessPool(tmp_path / "logs") as pool:
        await publish(settings, list(jobs))
        opts = replace(options(settings, store), env=env)
        started = time.monotonic()
        running = [pool.consumer(f"c{i}", opts) for i in range(CONSUMERS)]
        healthy_s = await wait_jobs(settings, healthy, finalized, timeout_s=180)
        at_healthy = await latest_by_job(settings, stalled)
        stalled_open = len(stalled) - sum(terminal(*v) for v in at_healthy.values())
        assert stalled_open > 0, "every stalled job ended before the healthy ones: no overlap to test"
        await wait_jobs(settings, jobs, terminal, timeout_s=240)
        all_s = time.monotonic() - started
        for proc in running:
            proc.terminate()
            assert await proc.wait(30) == 0, proc.tail()
        await settle(pool, opts)
        stalled_outcomes = Counter((await latest_by_job(settings, stalled)).values())
        outcome, _ = await conclude(
            "origin: 1 in 4 hosts' bodies stall (read timeout 1 s)", settings, store,
            origin=FarmDocs(origin_farm, "pdfs", "polite"), jobs=jobs, guarantee="exactly-once",
            recover_s=all_s,
        )  # fmt: skip
    assert_invariants(outcome.violations)
    assert outcome.finalized == len(healthy) and outcome.failed == len(stalled), outcome
    # a stall is a read timeout; once the host's breaker opens, the remaining tries fail fast as
    # remote-server-error (the breaker's status); both are retryable and nothing else may appear
    assert set(stalled_outcomes) <= {("FAILED", "timeout"), ("FAILED", "remote-server-error")}, (
        stalled_outcomes
    )
    assert stalled_outcomes[("FAILED", "timeout")] > 0, stalled_outcomes
    # the healthy jobs, sharing partitions with the stalled ones, did not wait for them
    assert healthy_s < all_s, (healthy_s, all_s)
    print(f"stall: healthy all FINALIZED after {healthy_s:.1f}s ({stalled_open} stalled still open), "
          f"all terminal after {all_s:.1f}s, stalled outcomes {dict(stalled_outcomes)}")  # fmt: skip


async def test_host_closing_connections_mid_body(
    make_topics: MakeTopics, origin_farm: Farm, tmp_path: Path
) -> None:
    """The first GET of each document closes the connection halfway through the body; the next succeeds."""
    settings = await make_topics(partitions=PARTITIONS)
    store, env = tmp_path / "store", farm_env(origin_farm, **ENGINE)
    jobs = farm_jobs(origin_farm, [("pdfs", f"/cut/1/{n}.pdf") for n in range(80)], prefix="C")
    docs = FarmDocs(origin_farm, "pdfs")
    async with ProcessPool(tmp_path / "logs") as pool:
        await publish(settings, list(jobs))
        first_s, outcomes = await run_pass(pool, settings, store, env, jobs)
        first, _ = await conclude(
            "origin: connection closed mid-body (first pass)", settings, store, origin=docs, jobs=jobs,
            guarantee="exactly-once", recover_s=first_s,
        )  # fmt: skip
        assert_invariants(first.violations)
        # truncated-body is retryable but not retried inside the job (the same URL may cut again)
        assert outcomes == Counter({("FAILED", "truncated-body"): len(jobs)}), outcomes
        assert list(store.rglob(".tmp-*")) == [], "a cut download left its temp file"
        rounds, recover_s = await requeue_until_finalized(pool, settings, store, env, jobs)
        outcome, _ = await conclude(
            f"origin: connection closed mid-body, then {rounds} requeue round(s)", settings, store,
            origin=docs, jobs=jobs, guarantee="exactly-once", recover_s=recover_s,
        )  # fmt: skip
    assert_invariants(outcome.violations)
    assert outcome.finalized == len(jobs) and outcome.duplicates == 0
    assert outcome.redownloads == len(jobs) and rounds == 1  # exactly one more GET per job
