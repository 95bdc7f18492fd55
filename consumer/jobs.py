"""One job's lifecycle on its partition: skip or plan, fetch, finish (DESIGN §3)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from consumer import joblog
from consumer.committer import Sink
from consumer.metrics import Metrics
from consumer.outcome import Fetcher, FetchOutcome
from consumer.records import OutRecord
from consumer.statestore import StateStore
from schemas import JobMessage, State, StateRecord, Status, check_transition, encode

log = logging.getLogger("docfetch.consumer")


@dataclass(frozen=True)
class JobContext:
    """What every job of this process shares."""

    fetcher: Fetcher
    metrics: Metrics
    state_topic: str
    owner: str
    pause_intake: Callable[[], None]
    # Resolves once no storage pause is running: no download starts while the store is failing.
    storage_ready: Callable[[], Awaitable[None]]
    # --concurrency bounds downloads; jobs waiting for their PLANNED or terminal commit hold no slot.
    downloads: asyncio.Semaphore


@dataclass(frozen=True)
class Placed:
    """Where a job message came from and under which assignment it runs."""

    partition: int
    offset: int
    epoch: int
    sink: Sink
    store: StateStore


def plan_attempt(store: StateStore, job: JobMessage) -> int | None:
    """The attempt to plan, or None to skip: terminal at an attempt not below the message's."""
    latest = store.get(job.job_id)
    if latest is None:
        check_transition(None, 0, State.PLANNED, job.attempt)
        return job.attempt
    state, attempt = latest
    if state.terminal and job.attempt <= attempt:
        return None
    if state is State.PLANNED and job.attempt <= attempt:
        check_transition(state, attempt, State.PLANNED, attempt)  # a crashed owner's plan, redone
        return attempt
    if state.terminal:
        check_transition(state, attempt, State.PLANNED, job.attempt)
    return job.attempt  # above an abandoned plan: the requeue supersedes it


def state_record(
    job: JobMessage, at: Placed, ctx: JobContext, *, attempt: int, outcome: FetchOutcome | None
) -> StateRecord:
    """PLANNED when `outcome` is None, else FINALIZED or FAILED from the outcome."""
    state = State.PLANNED if outcome is None else State.FINALIZED if outcome.ok else State.FAILED
    found = outcome or FetchOutcome(status=Status.SUCCESS)
    return StateRecord(
        job_id=job.job_id,
        work_id=job.work_id,
        state=state,
        status=None if outcome is None else outcome.status,
        attempt=attempt,
        owner=ctx.owner,
        epoch=at.epoch,
        source_partition=at.partition,
        source_offset=at.offset,
        ts_ms=int(time.time() * 1000),
        sha256=found.sha256 if outcome is not None and outcome.ok else None,
        size=found.size if outcome is not None and outcome.ok else None,
        mimetype=found.mimetype,
        final_url=found.final_url,
        tier=found.tier,
        hops=found.hops,
        detail=found.detail,
    )


def _out(record: StateRecord, ctx: JobContext, at: Placed) -> OutRecord:
    return OutRecord(ctx.state_topic, at.partition, record.job_id.encode(), encode(record))


async def fetch_safely(fetcher: Fetcher, job: JobMessage) -> FetchOutcome:
    """The fetcher's outcome; a fetcher that raises (a bug) fails the job instead of the partition."""
    try:
        return await fetcher.fetch(job)
    except Exception as exc:
        log.exception("event=fetcher-bug job=%s", job.job_id)
        return FetchOutcome(status=Status.BUDGET_EXHAUSTED, detail=f"fetcher raised {type(exc).__name__}")


async def run_job(job: JobMessage, at: Placed, ctx: JobContext) -> None:
    """Skip, or PLANNED (committed before any I/O) -> fetch -> FINALIZED/FAILED with the offset."""
    attempt = plan_attempt(at.store, job)
    if attempt is None:
        await at.sink.add([], offset=at.offset)
        ctx.metrics.skipped.inc()
        return
    await at.sink.add([_out(state_record(job, at, ctx, attempt=attempt, outcome=None), ctx, at)])
    at.store.set(job.job_id, State.PLANNED, attempt)
    started = time.monotonic()
    async with ctx.downloads:
        await ctx.storage_ready()
        outcome = await fetch_safely(ctx.fetcher, job)
    if outcome.status is Status.STORAGE_ERROR:
        ctx.pause_intake()
    final = state_record(job, at, ctx, attempt=attempt, outcome=outcome)
    await at.sink.add([_out(final, ctx, at)], offset=at.offset)
    at.store.set(job.job_id, final.state, attempt)
    ctx.metrics.job_duration.observe(time.monotonic() - started)
    outcome_label = "finalized" if outcome.ok else "failed"
    ctx.metrics.jobs.labels(outcome=outcome_label, status=outcome.status.value).inc()
    joblog.job_outcome(final, seconds=time.monotonic() - started)


async def run_after(
    previous: asyncio.Future[None] | None, job: JobMessage, at: Placed, ctx: JobContext
) -> None:
    """Two in-flight jobs never share an id: a second message for a job waits for the first to end."""
    if previous is not None:
        await asyncio.wait([previous])
    await run_job(job, at, ctx)
