"""`docfetch-producer requeue`: re-publish FAILED (or, forced, FINALIZED) jobs with attempt = last + 1.

A consumer processes a job message only when its attempt is above the terminal record's (DESIGN §3), so
the new message is the job's original one (candidates from the jobs topic) with the next attempt. A job
already requeued (its latest message has a higher attempt than its terminal record) is not sent again,
so running the same requeue twice publishes nothing new.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import orjson

from producer.errors import ConfigError, SendError
from producer.jobview import parse_duration_s
from producer.sender import JobSender
from producer.statereader import JobsSnapshot, StateSnapshot, read_jobs, read_state
from schemas import JobMessage, KafkaSettings, State, StateRecord, Status, encode
from schemas.settings import add_kafka_flags, kafka_settings

SHOWN_IN_DRY_RUN = 20  # job ids listed by --dry-run; the count covers the rest


@dataclass(frozen=True)
class Selection:
    """Which terminal records to requeue."""

    statuses: frozenset[Status]
    force_final: bool
    older_than_ms: int | None  # the record's ts_ms must be below this (None: any age)

    def wants(self, record: StateRecord) -> bool:
        if self.older_than_ms is not None and record.ts_ms >= self.older_than_ms:
            return False
        if record.state is State.FINALIZED:
            return self.force_final
        return record.state is State.FAILED and record.status in self.statuses


@dataclass(frozen=True)
class Plan:
    jobs: list[JobMessage]  # the messages to publish
    already_requeued: int
    no_job_message: list[str]  # selected, but the jobs topic no longer has the job (retention)


def selected_statuses(names: list[str] | None) -> frozenset[Status]:
    """The named statuses (terminal ones allowed when named); all retryable ones when none is named."""
    if not names:
        return frozenset(s for s in Status if s.retryable)
    try:
        return frozenset(Status(n) for n in names)
    except ValueError:
        valid = ", ".join(s.value for s in Status if s is not Status.SUCCESS)
        raise ConfigError(f"unknown status in {names}; valid: {valid}") from None


def plan(state: StateSnapshot, jobs: JobsSnapshot, selection: Selection, *, now_ms: int) -> Plan:
    """The jobs to re-publish, each with attempt = its latest record's attempt + 1; no I/O."""
    out, already, missing = [], 0, []
    for jid, record in state.latest.items():
        if not selection.wants(record):
            continue
        message = jobs.jobs.get(jid)
        if message is None:
            missing.append(jid)
        elif message.attempt > record.attempt:
            already += 1
        else:
            out.append(message.model_copy(update={"attempt": record.attempt + 1, "seeded_at_ms": now_ms}))
    return Plan(jobs=out, already_requeued=already, no_job_message=missing)


async def publish(settings: KafkaSettings, jobs: list[JobMessage]) -> None:
    async with JobSender(settings, topic=settings.jobs_topic) as sender:
        for n, job in enumerate(jobs, start=1):
            await sender.send(job.job_id.encode("ascii"), encode(job), n)
    if sender.counters.failed:
        raise SendError(f"{sender.counters.failed} of {len(jobs)} requeued jobs were not acknowledged; "
                        "re-run the same requeue (it skips jobs already requeued)")  # fmt: skip


def _selection(args: argparse.Namespace, now_ms: int) -> Selection:
    older = None if args.older_than is None else now_ms - int(parse_duration_s(args.older_than) * 1000)
    statuses = selected_statuses(args.status)
    if args.force_final and not args.status:
        statuses = frozenset()  # --force-final alone: only FINALIZED jobs
    return Selection(statuses=statuses, force_final=args.force_final, older_than_ms=older)


def plan_json(todo: Plan, selection: Selection, *, dry_run: bool) -> dict[str, object]:
    """--json: what was (or, with --dry-run, would be) requeued; every job id, not only the first 20."""
    return {
        "dry_run": dry_run,
        "requeued": len(todo.jobs),
        "statuses": sorted(selection.statuses),
        "force_final": selection.force_final,
        "jobs": [{"job_id": j.job_id, "work_id": j.work_id, "attempt": j.attempt} for j in todo.jobs],
        "already_requeued": todo.already_requeued,
        "no_job_message": todo.no_job_message,
    }


async def run(args: argparse.Namespace) -> int:
    now_ms = time.time_ns() // 1_000_000
    selection = _selection(args, now_ms)
    settings = kafka_settings(args)
    todo = plan(await read_state(settings), await read_jobs(settings), selection, now_ms=now_ms)
    if not args.dry_run:
        await publish(settings, todo.jobs)
    if args.json:
        print(orjson.dumps(plan_json(todo, selection, dry_run=args.dry_run)).decode())
        return 0
    if args.dry_run:
        for job in todo.jobs[:SHOWN_IN_DRY_RUN]:
            print(f"  {job.job_id} work={job.work_id or '-'} attempt={job.attempt}")
    verb = "would requeue" if args.dry_run else "requeued"
    named = [*sorted(selection.statuses), *(["FINALIZED"] if selection.force_final else [])]
    print(f"{verb} {len(todo.jobs)} jobs ({', '.join(named)}); already requeued: {todo.already_requeued}")
    if todo.no_job_message:
        print(
            f"{len(todo.no_job_message)} selected jobs have no job message left (retention); seed them again"
        )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "requeue",
        help="re-publish FAILED jobs with the given statuses (attempt + 1)",
        description="Without --status: every retryable status. A terminal (non-retryable) status is "
        "requeued only when named. --force-final also re-publishes FINALIZED jobs (forced re-download).",
    )
    parser.add_argument("--status", action="append", metavar="S", help="a status slug; repeatable")
    parser.add_argument("--older-than", metavar="DURATION", help="only records older than this (30m, 2h, 1d)")
    parser.add_argument("--force-final", action="store_true", help="also re-publish FINALIZED jobs")
    parser.add_argument("--dry-run", action="store_true", help="print what would be requeued; send nothing")
    parser.add_argument("--json", action="store_true", help="one JSON object: counts and every job requeued")
    add_kafka_flags(parser)
    parser.set_defaults(handler=run)
