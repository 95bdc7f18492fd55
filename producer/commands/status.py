"""`docfetch-producer status [--json]`: jobs per state, failures per status, pending, lag, oldest job."""

from __future__ import annotations

import argparse
import functools
import time
from collections import Counter
from dataclasses import asdict, dataclass

import orjson

from producer.commands import statuswatch
from producer.jobview import (
    JobsView,
    StateView,
    format_age,
    is_orphan,
    is_pending,
    joined,
    unfinished_since_ms,
)
from producer.scratchindex import IndexSettings, add_index_flags, index_settings, scratch_index
from producer.statereader import index_jobs, index_state
from schemas import KafkaSettings, State
from schemas.kafka import committed_offsets
from schemas.settings import add_kafka_flags, kafka_settings


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    end: int
    committed: int | None  # None: the group has not committed on this partition
    lag: int


@dataclass(frozen=True)
class StatusReport:
    jobs: int
    states: dict[str, int]
    statuses: dict[str, int]  # FAILED jobs per status slug
    pending: int
    orphaned: int  # PLANNED jobs the committed offset passed: lost unless requeued
    partitions: list[PartitionLag]
    oldest_unfinished_job: str | None
    oldest_unfinished_age_s: float | None
    undecodable_state_records: int


def summarize(
    state: StateView, jobs: JobsView, committed: dict[int, int | None], *, now_ms: int
) -> StatusReport:
    """The report from what was read, in one pass over the jobs by id; no I/O."""
    count, pending, orphaned = 0, 0, 0
    states: Counter[State] = Counter()
    failed: Counter[str] = Counter()
    oldest: tuple[int, str] | None = None  # (since ms, job id): the first by id among equals
    for jid, job, latest in joined(state, jobs):
        count += 1
        if latest is not None:
            states[latest.state] += 1
            if latest.state is State.FAILED:
                failed[str(latest.status)] += 1
            orphaned += is_orphan(latest, committed)
        if job is not None and is_pending(job, latest):
            pending += 1
        since = unfinished_since_ms(job, latest)
        if since is not None and (oldest is None or since < oldest[0]):
            oldest = (since, jid)
    return StatusReport(
        jobs=count,
        states={s.value: states[s] for s in State if states[s]},
        statuses=dict(sorted(failed.items(), key=lambda kv: (-kv[1], kv[0]))),
        pending=pending,
        orphaned=orphaned,
        partitions=_lags(jobs.end_offsets, committed),
        oldest_unfinished_job=None if oldest is None else oldest[1],
        oldest_unfinished_age_s=None if oldest is None else max(0, now_ms - oldest[0]) / 1000,
        undecodable_state_records=state.undecodable_count,
    )


def _lags(ends: dict[int, int], committed: dict[int, int | None]) -> list[PartitionLag]:
    out = []
    for p, end in sorted(ends.items()):
        done = committed.get(p)
        out.append(PartitionLag(partition=p, end=end, committed=done, lag=end - (done or 0)))
    return out


def render(report: StatusReport, *, group: str) -> str:
    lines = [f"jobs: {report.jobs} (pending {report.pending})"]
    if report.orphaned:
        lines.append(f"orphaned PLANNED: {report.orphaned} (committed past, never finished: run requeue)")
    lines.append("states: " + (" ".join(f"{s}={n}" for s, n in report.states.items()) or "none"))
    if report.statuses:
        lines.append("failed by status: " + " ".join(f"{s}={n}" for s, n in report.statuses.items()))
    lines.append(f"partitions (jobs topic, group {group!r}):")
    for p in report.partitions:
        committed = "-" if p.committed is None else p.committed
        lines.append(f"  {p.partition:>3}  end={p.end}  committed={committed}  lag={p.lag}")
    if report.oldest_unfinished_age_s is not None:
        age = format_age(report.oldest_unfinished_age_s)
        lines.append(f"oldest unfinished job: {age} ({report.oldest_unfinished_job})")
    if report.undecodable_state_records:
        lines.append(f"undecodable state records: {report.undecodable_state_records}")
    return "\n".join(lines)


async def read_report(settings: KafkaSettings, index: IndexSettings | None = None) -> StatusReport:
    """Both topics streamed into a scratch index (memory bounded by `index`), then summarized."""
    with scratch_index(index or IndexSettings()) as scratch:
        state = await index_state(settings, scratch)
        jobs = await index_jobs(settings, scratch)
        committed = await committed_offsets(settings)
        return summarize(state, jobs, committed, now_ms=time.time_ns() // 1_000_000)


async def run(args: argparse.Namespace) -> int:
    settings, index = kafka_settings(args), index_settings(args)
    if args.watch:
        read = functools.partial(read_report, settings, index)
        out = functools.partial(print, flush=True)
        return await statuswatch.watch(read, interval_s=args.interval_s, until_done=args.until_done, out=out)
    report = await read_report(settings, index)
    if args.json:
        print(orjson.dumps(asdict(report)).decode())
    else:
        print(render(report, group=settings.group_id))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "status",
        help="jobs per state, failures per status, pending, per-partition lag, oldest unfinished job",
        description="Reads the state and jobs topics (read_committed) and the group's committed offsets.",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object (states, statuses, pending, "
                        "partitions, ...)")  # fmt: skip
    parser.add_argument("--watch", action="store_true", help="a progress line (done, rate, ETA) every "
                        "--interval-s until interrupted")  # fmt: skip
    interval_s = statuswatch.DEFAULT_INTERVAL_S
    parser.add_argument("--interval-s", type=float, default=interval_s,
                        help=f"seconds between --watch lines ({interval_s:.0f})")  # fmt: skip
    parser.add_argument("--until-done", action="store_true", help="--watch ends (exit 0) once no job is "
                        "pending or running")  # fmt: skip
    add_index_flags(parser)
    add_kafka_flags(parser)
    parser.set_defaults(handler=run)
