"""`docfetch-producer requeue`: re-publish FAILED (or, forced, FINALIZED) jobs, and orphaned PLANNED ones,
with attempt = last + 1.

A consumer processes a job message only when its attempt is above the terminal record's (DESIGN §3), so
the new message is the job's original one with the next attempt. The original comes from the jobs topic;
once retention has removed it, from the seed file (`--seed-file`, the same file and format it was seeded
from: job ids are deterministic). A PLANNED whose source offset is below the group's committed offset is
orphaned (lost: no consumer reads its message again) and always selected. A job already requeued (its
latest message has a higher attempt than its record) is not sent again, so running the same requeue
twice publishes nothing new.

Nothing grows with the number of jobs: both topics are read into the scratch index, each selected job is
published (or, --json, printed) as the index is walked, and the jobs without a message wait in the
index for the seed file's pass; only counts are kept.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass

import orjson

from producer.commands.jobmapping import MAPPERS, batches
from producer.commands.jobsender import JobSender
from producer.errors import ConfigError, SendError
from producer.jobview import JobsView, Record, StateView, is_orphan, joined, parse_duration_s
from producer.scratchindex import ScratchIndex, add_index_flags, index_settings, number, scratch_index, u64
from producer.statereader import index_jobs, index_state
from schemas import JobMessage, KafkaSettings, State, Status, decode_job, encode
from schemas.kafka import committed_offsets
from schemas.lifecycle import supersedes
from schemas.settings import add_kafka_flags, kafka_settings

SHOWN_IN_DRY_RUN = 20  # job ids listed by --dry-run; the count covers the rest
MISSING = (
    b"M"  # M job -> attempt8 of its latest record: selected, no job message (scratch index; see statereader)
)


@dataclass(frozen=True)
class Selection:
    """Which terminal records to requeue."""

    statuses: frozenset[Status]
    force_final: bool
    older_than_ms: int | None  # the record's ts_ms must be below this (None: any age)

    def wants(self, record: Record, *, orphaned: bool = False) -> bool:
        if self.older_than_ms is not None and record.ts_ms >= self.older_than_ms:
            return False
        if orphaned:
            return True  # a lost job: whatever the statuses named, it is never finished otherwise
        if record.state is State.FINALIZED:
            return self.force_final
        return record.state is State.FAILED and record.status in self.statuses


@dataclass
class Tally:
    """What a requeue did (or, dry, would do): counts only, whatever the number of jobs."""

    requeued: int = 0
    already_requeued: int = 0
    orphaned: int = 0  # of `requeued`, orphaned PLANNED ones
    no_job_message: int = 0  # selected, but neither the jobs topic (retention) nor the seed file has it


@dataclass(frozen=True)
class Requeue:
    """A job to re-publish: its message with the next attempt."""

    message: JobMessage
    orphaned: bool = False


@dataclass(frozen=True)
class Missing:
    """A selected job whose message the jobs topic no longer holds (retention)."""

    job_id: str
    attempt: int  # of its latest record


@dataclass(frozen=True)
class Already:
    """A selected job whose latest message already has a higher attempt (requeued before)."""

    job_id: str


Decision = Requeue | Missing | Already


def selected_statuses(names: list[str] | None) -> frozenset[Status]:
    """The named statuses (terminal ones allowed when named); all retryable ones when none is named."""
    if not names:
        return frozenset(s for s in Status if s.retryable)
    try:
        return frozenset(Status(n) for n in names)
    except ValueError:
        valid = ", ".join(s.value for s in Status if s is not Status.SUCCESS)
        raise ConfigError(f"unknown status in {names}; valid: {valid}") from None


def next_attempt(message: JobMessage, attempt: int, *, now_ms: int) -> JobMessage | None:
    """The job's message to publish after a record at `attempt`; None if it already supersedes it."""
    if supersedes(message.attempt, attempt):
        return None
    return message.model_copy(update={"attempt": attempt + 1, "seeded_at_ms": now_ms})


def plan(
    state: StateView,
    jobs: JobsView,
    selection: Selection,
    *,
    now_ms: int,
    committed: Mapping[int, int | None] | None = None,
) -> Iterator[Decision]:
    """What to do with each selected job, in job-id order (one merge of the two topics' views,
    producer.jobview.joined); no I/O, nothing held. `committed` (the group's offsets) finds orphaned
    PLANNED jobs."""
    for jid, head, record in joined(state, jobs):
        if record is None:
            continue
        orphaned = committed is not None and is_orphan(record, committed)
        if not selection.wants(record, orphaned=orphaned):
            continue
        if head is None:
            yield Missing(jid, record.attempt)
        elif (message := next_attempt(head.message(), record.attempt, now_ms=now_ms)) is None:
            yield Already(jid)
        else:
            yield Requeue(message, orphaned)


class MissingJobs:
    """Selected jobs without a job message, in the scratch index (there may be millions)."""

    def __init__(self, index: ScratchIndex) -> None:
        self.index = index

    def add(self, job: Missing) -> None:
        self.index.put(MISSING + job.job_id.encode(), u64(job.attempt))

    def take(self, job_id: str) -> int | None:
        """The record's attempt of a missing job, which is then no longer missing; None if not missing."""
        key = MISSING + job_id.encode()
        raw = self.index.get(key)
        if raw is not None:
            self.index.delete(key)
        return None if raw is None else number(raw)

    def ids(self) -> Iterator[str]:
        for key, _ in self.index.items(MISSING):
            yield key.decode()


async def from_seed_file(
    path: str, fmt: str, missing: MissingJobs, *, now_ms: int
) -> AsyncIterator[Decision]:
    """The missing jobs as the seed file maps them (rejected and other lines ignored), each once."""
    async for _position, outcomes in batches(path, fmt):
        for item in outcomes:
            if item[0] != "job" or (attempt := missing.take(item[2])) is None:
                continue
            message = next_attempt(decode_job(item[3]), attempt, now_ms=now_ms)
            yield Requeue(message) if message is not None else Already(item[2])


class Report:
    """Where decisions go: the sender (unless dry), the counts, and what the output shows of them."""

    def __init__(self, sender: JobSender | None, *, json_out: bool, dry_run: bool) -> None:
        self.sender, self.json_out, self.dry_run = sender, json_out, dry_run
        self.tally = Tally()
        self.shown = 0

    async def take(self, decision: Decision) -> None:
        tally = self.tally
        if isinstance(decision, Already):
            tally.already_requeued += 1
            return
        assert isinstance(decision, Requeue)
        job = decision.message
        tally.requeued += 1
        tally.orphaned += decision.orphaned
        if self.sender is not None:
            await self.sender.send(job.job_id.encode("ascii"), encode(job), tally.requeued)
        if self.json_out:
            entry = orjson.dumps({"job_id": job.job_id, "work_id": job.work_id, "attempt": job.attempt})
            _write(("," if tally.requeued > 1 else "") + entry.decode())
        elif self.dry_run and self.shown < SHOWN_IN_DRY_RUN:
            self.shown += 1
            print(f"  {job.job_id} work={job.work_id or '-'} attempt={job.attempt}")


def _write(text: str) -> None:
    sys.stdout.write(text)


def _json_head(selection: Selection, *, dry_run: bool) -> str:
    head = {"dry_run": dry_run, "statuses": sorted(selection.statuses), "force_final": selection.force_final}
    return orjson.dumps(head).decode()[:-1] + ',"jobs":['


def _json_tail(tally: Tally, missing: Iterator[str]) -> None:
    """Closes the object _json_head opened: the counts, then every job id left without a message."""
    counts = {
        "requeued": tally.requeued,
        "already_requeued": tally.already_requeued,
        "orphaned": tally.orphaned,
    }
    _write("]," + orjson.dumps(counts).decode()[1:-1] + ',"no_job_message":[')
    for n, jid in enumerate(missing):
        _write(("," if n else "") + orjson.dumps(jid).decode())
    _write("]}\n")


def _selection(args: argparse.Namespace, now_ms: int) -> Selection:
    older = None if args.older_than is None else now_ms - int(parse_duration_s(args.older_than) * 1000)
    statuses = selected_statuses(args.status)
    if args.force_final and not args.status:
        statuses = frozenset()  # --force-final alone: only FINALIZED jobs
    return Selection(statuses=statuses, force_final=args.force_final, older_than_ms=older)


async def _requeue(
    args: argparse.Namespace, settings: KafkaSettings, selection: Selection, report: Report, now_ms: int
) -> None:
    """Plan from the topics and the group's offsets, publishing as it goes; then, for jobs the jobs topic
    lost, the seed file. Memory stays bounded: the topics are in the scratch index, and so are the
    missing jobs."""
    with scratch_index(index_settings(args)) as scratch:
        state, jobs = await index_state(settings, scratch), await index_jobs(settings, scratch)
        committed = await committed_offsets(settings)
        if args.json:
            _write(_json_head(selection, dry_run=args.dry_run))
        missing = MissingJobs(scratch)
        for decision in plan(state, jobs, selection, now_ms=now_ms, committed=committed):
            if isinstance(decision, Missing):
                missing.add(decision)
                report.tally.no_job_message += 1
            else:
                await report.take(decision)
        if report.tally.no_job_message and args.seed_file:
            async for found in from_seed_file(args.seed_file, args.format, missing, now_ms=now_ms):
                report.tally.no_job_message -= 1
                await report.take(found)
        if args.json:
            _json_tail(report.tally, missing.ids())


async def _run(args: argparse.Namespace, settings: KafkaSettings, selection: Selection, now_ms: int) -> Tally:
    if args.dry_run:
        report = Report(None, json_out=args.json, dry_run=True)
        await _requeue(args, settings, selection, report, now_ms)
        return report.tally
    async with JobSender(settings, topic=settings.jobs_topic) as sender:
        report = Report(sender, json_out=args.json, dry_run=False)
        await _requeue(args, settings, selection, report, now_ms)
    if sender.counters.failed:
        raise SendError(f"{sender.counters.failed} of {report.tally.requeued} requeued jobs were not "
                        "acknowledged; re-run the same requeue (it skips jobs already requeued)")  # fmt: skip
    return report.tally


async def run(args: argparse.Namespace) -> int:
    now_ms = time.time_ns() // 1_000_000
    selection = _selection(args, now_ms)
    tally = await _run(args, kafka_settings(args), selection, now_ms)
    if args.json:
        return 0
    verb = "would requeue" if args.dry_run else "requeued"
    named = [*sorted(selection.statuses), *(["FINALIZED"] if selection.force_final else [])]
    print(f"{verb} {tally.requeued} jobs ({', '.join(named)}); already requeued: {tally.already_requeued}")
    if tally.orphaned:
        print(f"of which orphaned PLANNED (committed past, never finished): {tally.orphaned}")
    if tally.no_job_message:
        where = (
            "nor in the seed file" if args.seed_file else "(retention); pass --seed-file with their seed file"
        )
        print(f"{tally.no_job_message} selected jobs have no job message left {where}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "requeue",
        help="re-publish FAILED jobs with the given statuses (attempt + 1)",
        description="Without --status: every retryable status. A terminal (non-retryable) status is "
        "requeued only when named. --force-final also re-publishes FINALIZED jobs (forced re-download). "
        "Orphaned PLANNED jobs (the group's committed offset passed them) are always requeued. Jobs whose "
        "message the jobs topic no longer holds are rebuilt from --seed-file.",
    )
    parser.add_argument("--status", action="append", metavar="S", help="a status slug; repeatable")
    parser.add_argument("--older-than", metavar="DURATION", help="only records older than this (30m, 2h, 1d)")
    parser.add_argument("--force-final", action="store_true", help="also re-publish FINALIZED jobs")
    parser.add_argument("--dry-run", action="store_true", help="print what would be requeued; send nothing")
    parser.add_argument("--json", action="store_true", help="one JSON object: counts and every job requeued")
    parser.add_argument(
        "--seed-file",
        metavar="PATH",
        help="for jobs whose message retention removed from the jobs topic: the file they were seeded from",
    )
    parser.add_argument(
        "--format", choices=sorted(MAPPERS), default="openalex", help="of --seed-file (openalex)"
    )
    add_index_flags(parser)
    add_kafka_flags(parser)
    parser.set_defaults(handler=run)
