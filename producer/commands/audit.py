"""`docfetch-producer audit`: check docfetch's delivery invariants against the topics and the store.

Operators run it after incidents; the fault tests run it after every fault. It reads, in this order,
the group's committed offsets, the jobs topic, the DLQ topic, the state topic (all ``read_committed``)
and then the artifact store. Offsets are read first so that a live run never sees an offset whose
terminal records it has not read yet (they are committed in the same transaction, or acked before).
What it reads goes into a scratch on-disk index (``--tmp-dir``, removed on exit), so memory is bounded
by ``--index-memory-mb``, not by the number of jobs or records (producer.scratchindex).

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
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import ConsumerRecord

from producer.scratchindex import (
    IndexSettings,
    ScratchIndex,
    add_index_flags,
    index_settings,
    number,
    scratch_index,
    u32,
    u64,
)
from producer.statereader import IndexedState, StateSnapshot, index_state, read_state
from schemas import KafkaSettings, PoisonMessage, State, decode_job
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
# Keyspaces of the scratch index (producer.scratchindex) that audit adds to producer.statereader's.
POSITION = b"P"  # P partition4 offset8 -> attempt8 job (empty: poison)
ASKED = b"Q"  # Q job attempt8 partition4 offset8 -> "" : a message asking for that job at that attempt
DEAD = b"D"  # D partition4 offset8 -> "" : the DLQ holds that jobs-topic message


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


def position_of(rec: ConsumerRecord[bytes, bytes]) -> JobPosition:
    try:
        job = decode_job(rec.value)
    except PoisonMessage:
        return JobPosition(rec.partition, rec.offset, None, 0)
    return JobPosition(rec.partition, rec.offset, job.job_id, job.attempt)


async def job_positions(settings: KafkaSettings) -> list[JobPosition]:
    """Every committed jobs-topic message with its job id and attempt; poison has job_id None."""
    return [position_of(rec) async for rec in iter_topic(settings, settings.jobs_topic)]


async def dlq_records(settings: KafkaSettings) -> AsyncIterator[tuple[int, int]]:
    """(partition, offset) of each jobs-topic message a DLQ record names, in DLQ order."""
    async for rec in iter_topic(settings, settings.dlq_topic):
        headers = {key: value.decode("utf-8", "replace") for key, value in rec.headers}
        if headers.get(DLQ_TOPIC, settings.jobs_topic) != settings.jobs_topic:
            continue
        try:
            yield int(headers[DLQ_PARTITION]), int(headers[DLQ_OFFSET])
        except (KeyError, ValueError):
            continue  # a DLQ record without a source cannot vouch for any offset


async def dlq_sources(settings: KafkaSettings) -> set[tuple[int, int]]:
    """(partition, offset) of every jobs-topic message that has a record on the DLQ topic."""
    return {source async for source in dlq_records(settings)}


async def read_topics(settings: KafkaSettings) -> Topics:
    """Read Kafka in the order the module docstring explains, into memory (tests, small topics)."""
    committed = await committed_offsets(settings)
    positions = await job_positions(settings)
    sources = await dlq_sources(settings)
    return Topics(committed, positions, sources, await read_state(settings))


class IndexedPositions:
    """Where each jobs-topic message is, and which ones the DLQ holds, in a scratch index."""

    def __init__(self, index: ScratchIndex) -> None:
        self.index = index
        self.poison = 0
        self.dead_lettered = 0

    def add(self, pos: JobPosition) -> None:
        where = u32(pos.partition) + u64(pos.offset)
        if pos.job_id is None:
            self.poison += 1
            self.index.put(POSITION + where)
            return
        job, attempt = pos.job_id.encode(), u64(pos.attempt)
        self.index.put(POSITION + where, attempt + job)
        self.index.put(ASKED + job + attempt + where)

    def add_dlq(self, partition: int, offset: int) -> None:
        self.dead_lettered += 1
        self.index.put(DEAD + u32(partition) + u64(offset))

    def in_dlq(self, where: bytes) -> bool:
        return self.dead_lettered > 0 and self.index.get(DEAD + where) is not None

    def items(self) -> Iterator[tuple[JobPosition, bytes]]:
        """Every position, by partition and offset, with its key suffix (for in_dlq)."""
        for where, value in self.index.items(POSITION):
            job = value[8:].decode() if value else None
            pos = JobPosition(number(where[:4]), number(where[4:]), job, number(value[:8]) if value else 0)
            yield pos, bytes(where)

    def wanted(self) -> Iterator[tuple[str, int]]:
        """(job id, highest attempt asked for) by job id, over the messages the DLQ does not hold."""
        current, highest = b"", -1
        for key, _ in self.index.items(ASKED):
            job, attempt, where = key[:64], number(key[64:72]), bytes(key[72:])
            if job != current:
                if highest >= 0:
                    yield current.decode(), highest
                current, highest = bytes(job), -1
            if not self.in_dlq(where):
                highest = max(highest, attempt)  # a re-seed may repeat attempt 0
        if highest >= 0:
            yield current.decode(), highest


@dataclass
class IndexedTopics:
    """What audit read from Kafka, in a scratch index: nothing per job or record in memory."""

    committed: dict[int, int]
    positions: IndexedPositions
    state: IndexedState


async def index_topics(settings: KafkaSettings, index: ScratchIndex) -> IndexedTopics:
    """Read Kafka in the order the module docstring explains, streaming into `index`."""
    committed = await committed_offsets(settings)
    positions = IndexedPositions(index)
    async for rec in iter_topic(settings, settings.jobs_topic):
        positions.add(position_of(rec))
    async for partition, offset in dlq_records(settings):
        positions.add_dlq(partition, offset)
    return IndexedTopics(committed, positions, await index_state(settings, index))


def indexed(topics: Topics, index: ScratchIndex) -> IndexedTopics:
    """The in-memory read, written into `index` as index_topics would have."""
    positions = IndexedPositions(index)
    for pos in topics.positions:
        positions.add(pos)
    for partition, offset in topics.dlq_sources:
        positions.add_dlq(partition, offset)
    state = IndexedState(index)
    for history in topics.state.history.values():
        for record in history:
            state.add_history(record)
    for record in topics.state.latest.values():
        state.set_latest(record)
    for partition, offset, reason in topics.state.undecodable:
        state.add_undecodable(partition, offset, reason)
    index.flush()
    return IndexedTopics(topics.committed, positions, state)


def _terminal_at(state: IndexedState, job_id: str, attempt: int) -> bool:
    """Whether a terminal record answers a message of `attempt` (schemas.lifecycle.needs_work: one of
    this attempt or above)."""
    highest = state.terminal_attempt(job_id)
    return highest is not None and not needs_work(State.FAILED, highest, attempt)


def check_terminal(topics: IndexedTopics, report: AuditReport, *, settled: bool) -> None:
    report.counts["seeded"] = 0
    for job_id, attempt in topics.positions.wanted():
        report.counts["seeded"] += 1
        if _terminal_at(topics.state, job_id, attempt):
            report.counts["terminal"] += 1
            continue
        report.counts["pending"] += 1
        if settled:
            report.violations.append(Violation("terminal", job_id, f"pending at attempt {attempt}"))
    report.counts["poison"] = topics.positions.poison
    for partition, offset, reason in topics.state.undecodable():
        report.violations.append(Violation("terminal", f"state {partition}/{offset}", reason))
    report.counts["finalized"] = report.counts["failed"] = 0
    for _job_id, record in topics.state.latest_items():
        report.counts["finalized"] += record.state is State.FINALIZED
        report.counts["failed"] += record.state is State.FAILED


def check_duplicates(state: IndexedState, report: AuditReport) -> None:
    for job_id, attempt, count in state.finalized_per_attempt():
        if count > 1:
            report.counts["duplicates"] += count - 1
            detail = f"{count} FINALIZED records at attempt {attempt}"
            report.violations.append(Violation("duplicate-finalized", job_id, detail))


def check_offsets(topics: IndexedTopics, report: AuditReport) -> None:
    for pos, where in topics.positions.items():
        if pos.offset >= topics.committed.get(pos.partition, 0):
            continue
        if topics.positions.in_dlq(where):
            continue  # the DLQ holds it (poison, a wrong key or partition, an unrecordable job)
        place = f"jobs {pos.partition}/{pos.offset}"
        if pos.job_id is None:
            report.violations.append(Violation("committed-offset", place, "poison without a DLQ record"))
        elif not _terminal_at(topics.state, pos.job_id, pos.attempt):
            detail = f"{place} (attempt {pos.attempt}) is below the committed offset but not terminal"
            report.violations.append(Violation("committed-offset", pos.job_id, detail))


def check_orphaned_planned(topics: IndexedTopics, report: AuditReport) -> None:
    """A latest PLANNED whose message the committed offset passed: lost, even once the jobs topic has
    dropped the message (retention), so `committed-offset` can no longer see it. `requeue` finishes it."""
    committed: dict[int, int | None] = dict(topics.committed)
    for job_id, record in topics.state.latest_items():
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


def check_artifacts(state: IndexedState, store: Path, report: AuditReport) -> None:
    """Verify each distinct (sha256, size) named by a FINALIZED record."""
    for sha, size, job_id in state.artifacts():
        problem = _object_problem(object_path(store, sha), sha, size)
        if problem:
            report.violations.append(Violation("artifact", job_id, f"{sha}: {problem}"))


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


def check_orphans(store: Path, named: Callable[[str], bool], report: AuditReport, *, grace_s: float) -> None:
    cutoff = time.time() - grace_s
    for rel, path in store_files(store):
        sha = object_name(rel)
        if sha is not None and named(sha):
            continue
        if path.stat().st_mtime > cutoff:
            report.counts["young-unreferenced-files"] += 1
            continue
        why = "object no FINALIZED record names" if sha else "stray or stale temp file"
        report.violations.append(Violation("orphan", rel, why))


def evaluate_indexed(topics: IndexedTopics, store: Path, *, grace_s: float, settled: bool) -> AuditReport:
    """Run every check on what was read; apart from the index, reads only the store."""
    report = AuditReport()
    check_terminal(topics, report, settled=settled)
    check_duplicates(topics.state, report)
    check_offsets(topics, report)
    check_orphaned_planned(topics, report)
    check_artifacts(topics.state, store, report)
    check_orphans(store, topics.state.names, report, grace_s=grace_s)
    return report


def evaluate(topics: Topics, store: Path, *, grace_s: float, settled: bool) -> AuditReport:
    """evaluate_indexed on an in-memory read (read_topics)."""
    with scratch_index(IndexSettings()) as scratch:
        return evaluate_indexed(indexed(topics, scratch), store, grace_s=grace_s, settled=settled)


async def audit(
    settings: KafkaSettings, store: Path, *, grace_s: float, settled: bool, index: IndexSettings | None = None
) -> AuditReport:
    """Stream the topics into a scratch index (memory bounded by `index`), then check every invariant."""
    with scratch_index(index or IndexSettings()) as scratch:
        topics = await index_topics(settings, scratch)
        return evaluate_indexed(topics, store, grace_s=grace_s, settled=settled)


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
    index = index_settings(args)
    report = await audit(settings, Path(args.store), grace_s=args.grace_s, settled=args.settled, index=index)
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
    add_index_flags(parser)
    add_kafka_flags(parser)
    parser.set_defaults(handler=run_audit)
