"""`docfetch-producer audit`: check docfetch's delivery invariants against the topics and the store.

Operators run it after incidents; the fault tests run it after every fault. It reads, in this order,
the group's committed offsets, the jobs topic, the DLQ topic, the state topic (all ``read_committed``)
and then the artifact store. Offsets are read first so that a live run never sees an offset whose
terminal records it has not read yet (they are committed in the same transaction, or acked before).

Checks (each violation names a job id or a store path):

- ``terminal``: every seeded job has a terminal record or is pending; with ``--settled`` a pending
  job is itself a violation. A message the DLQ holds (a wrong key or partition, a job that could not be
  recorded) asks for nothing. Undecodable state records are violations (no one can tell their job's state).
- ``duplicate-finalized``: at most one visible FINALIZED per job and attempt.
- ``artifact``: every FINALIZED record's object exists at ``sha256/ab/cd/<hex>`` with its size and hash.
- ``committed-offset``: every job message below its partition's committed offset has a terminal record
  with an attempt at least the message's, or a DLQ record; every poison message below it has a DLQ record.
- ``orphaned-planned``: no job's latest record is a PLANNED whose source offset is below its
  partition's committed offset (a job the group passed without finishing; ``requeue`` selects it).
- ``orphan``: no store object (or sidecar ``<hex>.json``) that no FINALIZED record names, and no other
  file (stale temp files), older than the grace period. The layout is ``schemas.artifacts``.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from producer.statereader import StateSnapshot, read_state
from schemas import KafkaSettings, PoisonMessage, State, StateRecord, decode_job
from schemas.artifacts import object_path, parse_relpath
from schemas.kafka import committed_offsets as group_offsets
from schemas.lifecycle import is_orphaned, needs_work
from schemas.settings import add_kafka_flags, kafka_settings
from schemas.topicreader import iter_topic
from schemas.topics import DLQ_OFFSET, DLQ_PARTITION, DLQ_TOPIC

CHECKS = ("terminal", "duplicate-finalized", "artifact", "committed-offset", "orphaned-planned", "orphan")
DEFAULT_GRACE_S = 3600.0  # longer than any download plus commit interval, so live writes never count
HASH_CHUNK_BYTES = 1024 * 1024
EXIT_VIOLATIONS = 1


@dataclass(frozen=True)
class JobPosition:
    """One message on the jobs topic: where it is, and its job and attempt (None when poison)."""

    partition: int
    offset: int
    job_id: str | None
    attempt: int


@dataclass(frozen=True)
class Violation:
    check: str
    subject: str  # a job id, a "partition/offset" or a store path
    detail: str


@dataclass
class Topics:
    """What audit read from Kafka."""

    committed: dict[int, int]
    positions: list[JobPosition]
    dlq_sources: set[tuple[int, int]]
    state: StateSnapshot


@dataclass
class AuditReport:
    counts: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def by_check(self) -> dict[str, int]:
        found = Counter(v.check for v in self.violations)
        return {check: found[check] for check in CHECKS}

    def as_json(self) -> dict[str, object]:
        return {"ok": self.ok, "jobs": dict(self.counts), "violations": self.by_check()}


async def committed_offsets(settings: KafkaSettings) -> dict[int, int]:
    """The group's committed offset per jobs-topic partition (partitions without one are left out)."""
    return {p: off for p, off in (await group_offsets(settings)).items() if off is not None}


async def job_positions(settings: KafkaSettings) -> list[JobPosition]:
    """Every committed jobs-topic message with its job id and attempt; poison has job_id None."""
    positions = []
    async for rec in iter_topic(settings, settings.jobs_topic):
        try:
            job = decode_job(rec.value)
        except PoisonMessage:
            positions.append(JobPosition(rec.partition, rec.offset, None, 0))
            continue
        positions.append(JobPosition(rec.partition, rec.offset, job.job_id, job.attempt))
    return positions


async def dlq_sources(settings: KafkaSettings) -> set[tuple[int, int]]:
    """(partition, offset) of every jobs-topic message that has a record on the DLQ topic."""
    sources = set()
    async for rec in iter_topic(settings, settings.dlq_topic):
        headers = {key: value.decode("utf-8", "replace") for key, value in rec.headers}
        if headers.get(DLQ_TOPIC, settings.jobs_topic) != settings.jobs_topic:
            continue
        try:
            sources.add((int(headers[DLQ_PARTITION]), int(headers[DLQ_OFFSET])))
        except (KeyError, ValueError):
            continue  # a DLQ record without a source cannot vouch for any offset
    return sources


async def read_topics(settings: KafkaSettings) -> Topics:
    """Read Kafka in the order the module docstring explains."""
    committed = await committed_offsets(settings)
    positions = await job_positions(settings)
    sources = await dlq_sources(settings)
    return Topics(committed, positions, sources, await read_state(settings))


def check_terminal(topics: Topics, report: AuditReport, *, settled: bool) -> None:
    wanted: dict[str, int] = {}  # job id -> highest attempt asked for (a re-seed may repeat attempt 0)
    for pos in topics.positions:
        if pos.job_id is not None and (pos.partition, pos.offset) not in topics.dlq_sources:
            wanted[pos.job_id] = max(pos.attempt, wanted.get(pos.job_id, 0))
    report.counts["seeded"] = len(wanted)
    report.counts["poison"] = sum(p.job_id is None for p in topics.positions)
    for job_id, attempt in sorted(wanted.items()):
        if _terminal_at(topics.state.history.get(job_id, []), attempt) is not None:
            report.counts["terminal"] += 1
            continue
        report.counts["pending"] += 1
        if settled:
            report.violations.append(Violation("terminal", job_id, f"pending at attempt {attempt}"))
    for partition, offset, reason in topics.state.undecodable:
        report.violations.append(Violation("terminal", f"state {partition}/{offset}", reason))
    latest = topics.state.latest.values()
    report.counts["finalized"] = sum(r.state is State.FINALIZED for r in latest)
    report.counts["failed"] = sum(r.state is State.FAILED for r in latest)


def _terminal_at(history: list[StateRecord], attempt: int) -> StateRecord | None:
    """The first terminal record that answers a message of `attempt` (schemas.lifecycle), or None."""
    return next(
        (r for r in history if r.state.terminal and not needs_work(r.state, r.attempt, attempt)), None
    )


def check_duplicates(state: StateSnapshot, report: AuditReport) -> None:
    for job_id, history in sorted(state.history.items()):
        per_attempt = Counter(r.attempt for r in history if r.state is State.FINALIZED)
        for attempt, count in sorted(per_attempt.items()):
            if count > 1:
                report.counts["duplicates"] += count - 1
                detail = f"{count} FINALIZED records at attempt {attempt}"
                report.violations.append(Violation("duplicate-finalized", job_id, detail))


def check_offsets(topics: Topics, report: AuditReport) -> None:
    for pos in topics.positions:
        if pos.offset >= topics.committed.get(pos.partition, 0):
            continue
        where = f"jobs {pos.partition}/{pos.offset}"
        if (pos.partition, pos.offset) in topics.dlq_sources:
            continue  # the DLQ holds it (poison, a wrong key or partition, an unrecordable job)
        if pos.job_id is None:
            if (pos.partition, pos.offset) not in topics.dlq_sources:
                report.violations.append(Violation("committed-offset", where, "poison without a DLQ record"))
        elif _terminal_at(topics.state.history.get(pos.job_id, []), pos.attempt) is None:
            detail = f"{where} (attempt {pos.attempt}) is below the committed offset but not terminal"
            report.violations.append(Violation("committed-offset", pos.job_id, detail))


def check_orphaned_planned(topics: Topics, report: AuditReport) -> None:
    """A latest PLANNED whose message the committed offset passed: lost, even once the jobs topic has
    dropped the message (retention), so `committed-offset` can no longer see it. `requeue` finishes it."""
    committed: dict[int, int | None] = dict(topics.committed)
    for job_id, record in sorted(topics.state.latest.items()):
        if is_orphaned(record.state, record.source_partition, record.source_offset, committed):
            report.counts["orphaned"] += 1
            source = f"jobs {record.source_partition}/{record.source_offset}"
            where = f"PLANNED at attempt {record.attempt} from {source}"
            report.violations.append(
                Violation("orphaned-planned", job_id, f"{where}, below the committed offset")
            )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def check_artifacts(state: StateSnapshot, store: Path, report: AuditReport) -> set[str]:
    """Verify each distinct (sha256, size) named by a FINALIZED record; return the hashes named."""
    named: dict[tuple[str, int], str] = {}
    for history in state.history.values():
        for r in history:
            if r.state is State.FINALIZED and r.sha256 is not None and r.size is not None:
                named.setdefault((r.sha256, r.size), r.job_id)
    for (sha, size), job_id in sorted(named.items()):
        problem = _object_problem(object_path(store, sha), sha, size)
        if problem:
            report.violations.append(Violation("artifact", job_id, f"{sha}: {problem}"))
    return {sha for sha, _size in named}


def _object_problem(path: Path, sha256: str, size: int) -> str | None:
    if not path.is_file():
        return f"missing at {path}"
    if (actual := path.stat().st_size) != size:
        return f"size {actual}, record says {size}"
    if (actual_sha := file_sha256(path)) != sha256:
        return f"content hashes to {actual_sha}"
    return None


def store_files(store: Path) -> Iterator[tuple[str, Path]]:
    """(path relative to the store, path) of every regular file below it."""
    for path in sorted(store.rglob("*")):
        if path.is_file():
            yield path.relative_to(store).as_posix(), path


def object_name(rel: str) -> str | None:
    """The hash of a well-placed store object or its sidecar (``sha256/ab/cd/abcd...[.json]``), else None."""
    parsed = parse_relpath(rel)
    return None if parsed is None else parsed[0]


def check_orphans(store: Path, named: set[str], report: AuditReport, *, grace_s: float) -> None:
    cutoff = time.time() - grace_s
    for rel, path in store_files(store):
        sha = object_name(rel)
        if sha is not None and sha in named:
            continue
        if path.stat().st_mtime > cutoff:
            report.counts["young-unreferenced-files"] += 1
            continue
        why = "object no FINALIZED record names" if sha else "stray or stale temp file"
        report.violations.append(Violation("orphan", rel, why))


def evaluate(topics: Topics, store: Path, *, grace_s: float, settled: bool) -> AuditReport:
    """Run every check on what was read; pure apart from reading the store."""
    report = AuditReport()
    check_terminal(topics, report, settled=settled)
    check_duplicates(topics.state, report)
    check_offsets(topics, report)
    check_orphaned_planned(topics, report)
    named = check_artifacts(topics.state, store, report)
    check_orphans(store, named, report, grace_s=grace_s)
    return report


async def audit(settings: KafkaSettings, store: Path, *, grace_s: float, settled: bool) -> AuditReport:
    """Read the topics, then the store, and check every invariant."""
    topics = await read_topics(settings)
    return evaluate(topics, store, grace_s=grace_s, settled=settled)


def print_report(report: AuditReport, *, as_json: bool) -> None:
    if as_json:
        print(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
        return
    for v in report.violations:
        print(f"VIOLATION {v.check}: {v.subject}: {v.detail}")
    counts = ", ".join(f"{k} {n}" for k, n in sorted(report.counts.items()))
    checks = ", ".join(f"{k} {n}" for k, n in report.by_check().items())
    print(f"jobs: {counts}\nviolations: {checks}\n{'OK' if report.ok else 'FAILED'}")


async def run_audit(args: argparse.Namespace) -> int:
    settings = kafka_settings(args)
    report = await audit(settings, Path(args.store), grace_s=args.grace_s, settled=args.settled)
    print_report(report, as_json=args.json)
    return 0 if report.ok else EXIT_VIOLATIONS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "audit",
        help="check the delivery invariants (state, offsets, DLQ, artifact store); exit 1 on any violation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--store", required=True, help="the artifact store directory")
    parser.add_argument("--json", action="store_true", help="print counts per check as JSON")
    parser.add_argument(
        "--grace-s",
        type=float,
        default=DEFAULT_GRACE_S,
        help=f"unreferenced store files younger than this are not orphans yet ({DEFAULT_GRACE_S:.0f})",
    )
    parser.add_argument(
        "--settled", action="store_true", help="the run is over: a pending job is a violation (lost)"
    )
    add_kafka_flags(parser)
    parser.set_defaults(handler=run_audit)
