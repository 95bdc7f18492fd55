"""Intake: jobs before their terminal commit are bounded by the download slots, jobs waiting for that
commit apart (DOCFETCH_COMMIT_BACKLOG), so a download slot never waits for a transaction."""

from __future__ import annotations

import asyncio

import pytest

from consumer.assignment import INTAKE_PER_DOWNLOAD_SLOT, intake_room
from consumer.jobs import JobContext, Placed, run_job
from consumer.metrics import Metrics
from consumer.outcome import FetchOutcome
from consumer.records import OutRecord
from consumer.settings import consumer_settings
from consumer.statestore import StateStore
from schemas import Candidate, JobMessage, State, Status, Tier, job_id

CFG = consumer_settings({"concurrency": 16, "commit_backlog": 100})
WORKING = 16 * INTAKE_PER_DOWNLOAD_SLOT


@pytest.mark.parametrize(
    ("inflight", "finishing", "room"),
    [
        (0, 0, WORKING),
        (WORKING, 0, 0),  # every pre-commit place taken
        (WORKING + 40, 40, 0),
        (56, 40, 16),  # 40 waiting for their commit leave their places to new jobs
        (60, 60, WORKING),
        (100, 100, 0),  # the backlog is full: no new job, whatever the slots
        (WORKING + 90, 90, 0),
        (90 + 5, 90, 10),  # the backlog's room is the smaller
    ],
)
def test_jobs_waiting_for_their_commit_do_not_take_download_places(
    inflight: int, finishing: int, room: int
) -> None:
    assert intake_room(inflight, finishing, CFG) == room


class HeldSink:
    """A sink whose terminal flush resolves only when the test says so."""

    def __init__(self) -> None:
        self.terminal: asyncio.Future[None] | None = None
        self.held = asyncio.Event()

    def add(self, records: list[OutRecord], *, offset: int | None = None) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if offset is None:
            waiter.set_result(None)
        else:
            self.terminal = waiter
            self.held.set()
        return waiter


class Timeouts:
    async def fetch(self, job: JobMessage) -> FetchOutcome:
        return FetchOutcome(status=Status.TIMEOUT)


def context() -> JobContext:
    return JobContext(
        Timeouts(), Metrics(), "state", "test", pause_intake=lambda: None,
        storage_ready=lambda: asyncio.sleep(0), downloads=asyncio.Semaphore(1),
    )  # type: ignore[arg-type]  # fmt: skip


def a_job(work_id: str) -> JobMessage:
    return JobMessage(
        job_id=job_id(work_id=work_id, url=None), work_id=work_id, source="test", seeded_at_ms=1,
        candidates=(Candidate(url=f"https://a.example/{work_id}.pdf", tier=Tier.OA_PDF),),
    )  # fmt: skip


async def finishing_while_held(job: JobMessage, store: StateStore, ctx: JobContext) -> int:
    """Run the job until its offset's commit is asked for; that count, then let the commit resolve."""
    sink = HeldSink()
    at = Placed(partition=0, offset=7, epoch=1, owner="m", sink=sink, store=store)  # type: ignore[arg-type]
    task = asyncio.create_task(run_job(job, at, ctx))
    await asyncio.wait_for(sink.held.wait(), timeout=5)
    held = ctx.finishing.count
    assert not ctx.downloads.locked()  # the slot is free already
    assert sink.terminal is not None
    sink.terminal.set_result(None)
    await task
    assert ctx.finishing.count == 0
    return held


async def test_a_job_counts_as_finishing_only_while_its_terminal_record_waits() -> None:
    assert await finishing_while_held(a_job("W1"), StateStore(), context()) == 1


async def test_a_skipped_final_job_waits_for_its_commit_with_the_backlog() -> None:
    """A restart over many final jobs is held by the commit backlog, not by 2 x --concurrency."""
    job, store = a_job("W2"), StateStore()
    store.set(job.job_id, State.FINALIZED, 1)
    assert await finishing_while_held(job, store, context()) == 1
