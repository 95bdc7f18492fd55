"""One job's lifecycle on its partition: skip or plan, fetch, finish (DESIGN §3)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from consumer import joblog
from consumer.committer import Sink
from consumer.errors import PartitionLost
from consumer.metrics import Metrics
from consumer.outcome import Fetcher, FetchOutcome
from consumer.records import OutRecord
from consumer.statestore import JobStates
from schemas import JobMessage, State, StateRecord, Status, check_transition
from schemas.codec import encode_state
from schemas.lifecycle import needs_work, supersedes

log = logging.getLogger("docfetch.consumer")
_PLANNED = FetchOutcome(status=Status.SUCCESS)  # a PLANNED record's trail: no hops, no detail


@dataclass
class Finishing:
    """How many jobs wait for their offset's commit with nothing left to download: their terminal
    record queued, or already final and skipped."""

    count: int = 0


@dataclass(frozen=True)
class JobContext:
    """What every job of this process shares."""

    fetcher: Fetcher
    metrics: Metrics
    state_topic: str
    owner: str  # this process (host:pid), for logs; records name the group member id (Placed.owner)
    pause_intake: Callable[[], None]
    # Resolves once no storage pause is running: no download starts while the store is failing.
    storage_ready: Callable[[], Awaitable[None]]
    # --concurrency bounds downloads; jobs waiting for their PLANNED or terminal commit hold no slot.
    downloads: asyncio.Semaphore
    # Jobs waiting for their offset's commit, bounded apart (DOCFETCH_COMMIT_BACKLOG, consumer/assignment.py).
    finishing: Finishing = field(default_factory=Finishing)


@dataclass(frozen=True)
class Placed:
    """Where a job message came from and under which assignment it runs (DESIGN §2: the group member id
    and the group generation of the assignment that gave this process the partition)."""

    partition: int
    offset: int
    epoch: int
    owner: str
    sink: Sink
    store: JobStates


def plan_attempt(store: JobStates, job: JobMessage) -> int | None:
    """The attempt to plan, or None to skip: terminal at an attempt not below the message's."""
    latest = store.get(job.job_id)
    if latest is None:
        check_transition(None, 0, State.PLANNED, job.attempt)
        return job.attempt
    state, attempt = latest
    if not needs_work(state, attempt, job.attempt):
        return None
    if state is State.PLANNED and not supersedes(job.attempt, attempt):
        check_transition(state, attempt, State.PLANNED, attempt)  # a crashed owner's plan, redone
        return attempt
    if state.terminal:
        check_transition(state, attempt, State.PLANNED, job.attempt)
    return job.attempt  # above an abandoned (or orphaned) plan: the requeue supersedes it


def state_record(
    job: JobMessage, at: Placed, ctx: JobContext, *, attempt: int, outcome: FetchOutcome | None
) -> StateRecord:
    """PLANNED when `outcome` is None, else FINALIZED or FAILED from the outcome."""
    state = State.PLANNED if outcome is None else State.FINALIZED if outcome.ok else State.FAILED
    found = outcome or _PLANNED
    # The FINALIZED fields only on success; their defaults (None) otherwise, left to the model.
    stored = dict(found.finalized) if outcome is not None and outcome.ok and found.finalized else {}
    return StateRecord(
        job_id=job.job_id,
        work_id=job.work_id,
        state=state,
        status=None if outcome is None else outcome.status,
        attempt=attempt,
        owner=at.owner,
        epoch=at.epoch,
        source_partition=at.partition,
        source_offset=at.offset,
        ts_ms=int(time.time() * 1000),
        hops=found.hops,
        detail=found.detail,
        **stored,
    )


def _out(record: StateRecord, ctx: JobContext, at: Placed) -> OutRecord:
    return OutRecord(ctx.state_topic, at.partition, record.job_id.encode(), encode_state(record))


async def fetch_safely(fetcher: Fetcher, job: JobMessage) -> FetchOutcome:
    """The fetcher's outcome; a fetcher that raises (a bug) fails the job instead of the partition."""
    try:
        return await fetcher.fetch(job)
    except Exception as exc:
        log.exception("event=fetcher-bug job=%s", job.job_id)
        return internal_error(exc, where="fetcher")


def internal_error(exc: BaseException, *, where: str) -> FetchOutcome:
    """The outcome of a job that raised: FAILED, retryable, the exception's type named."""
    return FetchOutcome(status=Status.INTERNAL_ERROR, detail=f"{where} raised {type(exc).__name__}: {exc}")


async def run_job(job: JobMessage, at: Placed, ctx: JobContext) -> None:
    """Skip, or PLANNED (queued, not waited for) -> fetch -> FINALIZED/FAILED with the offset.

    Any exception but a lost partition ends the attempt FAILED with internal-error (DESIGN §2); one that
    prevents even that record propagates to the partition, which sends the message to the DLQ.
    """
    attempt = plan_attempt(at.store, job)
    if attempt is None:
        await _committed(at.sink.add([], offset=at.offset), ctx)
        ctx.metrics.skipped.inc()
        return
    try:
        await _attempt(job, at, ctx, attempt)
    except PartitionLost:
        raise
    except Exception as exc:
        log.exception("event=job-internal-error job=%s attempt=%d", job.job_id, attempt)
        await _finish(job, at, ctx, attempt, internal_error(exc, where="job"), started=time.monotonic())


async def _attempt(job: JobMessage, at: Placed, ctx: JobContext, attempt: int) -> None:
    """PLANNED is queued for the partition's next commit and the download starts at once: the offset
    commits only with the terminal record (queued after PLANNED, so in the same or a later transaction;
    a job done within one commit interval writes both in one), and a partition lost meanwhile surfaces
    here or in the terminal record's flush."""
    planned = at.sink.add([_out(state_record(job, at, ctx, attempt=attempt, outcome=None), ctx, at)])
    at.store.set(job.job_id, State.PLANNED, attempt)
    started = time.monotonic()
    async with ctx.downloads:
        await ctx.storage_ready()
        outcome = await fetch_safely(ctx.fetcher, job)
    if planned.done():
        planned.result()  # its flush failed: PartitionLost (else the terminal record joins PLANNED's batch)
    if outcome.status is Status.STORAGE_ERROR:
        ctx.pause_intake()
    await _finish(job, at, ctx, attempt, outcome, started=started)


async def _committed(done: asyncio.Future[None], ctx: JobContext) -> None:
    """Wait for an offset's commit, counted with the commit backlog (not the download places)."""
    ctx.finishing.count += 1
    try:
        await done
    finally:
        ctx.finishing.count -= 1


async def _finish(
    job: JobMessage, at: Placed, ctx: JobContext, attempt: int, outcome: FetchOutcome, *, started: float
) -> None:
    """The terminal record with the job's offset; the store and the counters once it is durable."""
    final = state_record(job, at, ctx, attempt=attempt, outcome=outcome)
    await _committed(at.sink.add([_out(final, ctx, at)], offset=at.offset), ctx)
    at.store.set(job.job_id, final.state, attempt)
    ctx.metrics.job_duration.observe(time.monotonic() - started)
    ctx.metrics.job_done("finalized" if outcome.ok else "failed", outcome.status.value)
    joblog.job_outcome(final, seconds=time.monotonic() - started)


async def run_after(
    previous: asyncio.Future[None] | None, job: JobMessage, at: Placed, ctx: JobContext
) -> None:
    """Two in-flight jobs never share an id: a second message for a job waits for the first to end."""
    if previous is not None:
        await asyncio.wait([previous])
    await run_job(job, at, ctx)
