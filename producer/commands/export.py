"""`docfetch-producer export`: each job's latest FINALIZED (optionally FAILED) record, for downstream.

One JSON object (JSONL) or CSV row per job: job id, work id, DOI, attempt, state, status, sha256, size,
mimetype, final URL, tier, store path, finished-at. Memory stays bounded on tens of millions of records:
the compacted state topic may still hold several records per job, so "latest per job" is found with an
index spilled to a temporary SQLite file (job id -> partition/offset of its latest record, plus the DOI),
never with the records in memory. Three sequential reads (all read_committed, schemas.topicreader):

1. state topic: the index, one row per job (a later record of a job replaces its row; a tombstone drops it);
2. jobs topic: the DOI of each indexed job (state records do not carry it; retention may have removed it);
3. state topic again: each record that is its job's latest and passes the filters is decoded and written.

Records appended after the first read started are not exported (they are past the end offsets taken then).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from producer.errors import ConfigError
from producer.jobview import parse_duration_s
from schemas import KafkaSettings, PoisonMessage, State, StateRecord, Status, decode_state, peek_state_attempt
from schemas.artifacts import object_path, object_relpath
from schemas.settings import add_kafka_flags, kafka_settings
from schemas.topicreader import iter_topic

FIELDS = ("job_id", "work_id", "doi", "attempt", "state", "status", "sha256", "size", "mimetype",
          "final_url", "tier", "store_path", "finished_at")  # fmt: skip
BATCH_ROWS = 10_000  # index rows per SQLite statement batch: few round trips, a few MB at most
SCHEMA = """
CREATE TABLE latest (job BLOB PRIMARY KEY, part INTEGER, off INTEGER, state TEXT, doi TEXT) WITHOUT ROWID
"""


@dataclass(frozen=True)
class Filters:
    states: frozenset[State]
    statuses: frozenset[Status] | None  # None: any status
    since_ms: int | None  # finished at or after (record ts_ms)

    def wants(self, record: StateRecord) -> bool:
        if record.state not in self.states:
            return False
        if self.statuses is not None and record.status not in self.statuses:
            return False
        return self.since_ms is None or record.ts_ms >= self.since_ms


@dataclass
class Counts:
    exported: int = 0
    undecodable: int = 0


def _state_of(raw: bytes) -> str | None:
    """The record's state without full validation; None when it does not parse."""
    fast = peek_state_attempt(raw)
    if fast is not None:
        return fast[0]
    try:
        state = orjson.loads(raw).get("state")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return state if isinstance(state, str) else None


def _flush(db: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        db.executemany(sql, rows)
        rows.clear()


async def build_index(db: sqlite3.Connection, settings: KafkaSettings) -> None:
    """Pass 1: one row per job key with the position and state of its latest state record."""
    upsert = "INSERT OR REPLACE INTO latest (job, part, off, state) VALUES (?, ?, ?, ?)"
    rows: list[tuple[Any, ...]] = []
    async for rec in iter_topic(settings, settings.state_topic):
        if rec.key is None:
            continue
        if rec.value is None:  # a tombstone (operator delete): the job has no latest record any more
            _flush(db, upsert, rows)
            db.execute("DELETE FROM latest WHERE job = ?", (rec.key,))
            continue
        rows.append((rec.key, rec.partition, rec.offset, _state_of(rec.value)))
        if len(rows) >= BATCH_ROWS:
            _flush(db, upsert, rows)
    _flush(db, upsert, rows)


async def add_dois(db: sqlite3.Connection, settings: KafkaSettings, states: frozenset[State]) -> None:
    """Pass 2: the DOI from each job message, for jobs whose latest state is exported."""
    marks = ",".join("?" * len(states))
    update = (
        f"UPDATE latest SET doi = ? WHERE job = ? AND state IN ({marks})"  # only "?" marks are formatted in
    )
    wanted = [s.value for s in sorted(states)]
    rows: list[tuple[Any, ...]] = []
    async for rec in iter_topic(settings, settings.jobs_topic):
        if rec.key is None or rec.value is None or b'"doi":null' in rec.value:
            continue
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            doi = orjson.loads(rec.value).get("doi")
            if isinstance(doi, str):
                rows.append((doi, rec.key, *wanted))
        if len(rows) >= BATCH_ROWS:
            _flush(db, update, rows)
    _flush(db, update, rows)


def _iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).isoformat(timespec="milliseconds")


def row_for(record: StateRecord, doi: str | None, *, store: Path | None) -> dict[str, Any]:
    """The exported fields of one record (FIELDS order); store_path is relative unless --store is given."""
    path = None
    if record.sha256:
        path = str(object_path(store, record.sha256) if store else object_relpath(record.sha256))
    return {"job_id": record.job_id, "work_id": record.work_id, "doi": doi, "attempt": record.attempt,
            "state": record.state.value, "status": record.status.value if record.status else None,
            "sha256": record.sha256, "size": record.size, "mimetype": record.mimetype,
            "final_url": record.final_url, "tier": record.tier.value if record.tier else None,
            "store_path": path, "finished_at": _iso(record.ts_ms)}  # fmt: skip


async def export_rows(
    db: sqlite3.Connection, settings: KafkaSettings, filters: Filters, counts: Counts, *, store: Path | None
) -> Any:
    """Pass 3: the row of every record that is its job's latest and passes the filters, in topic order."""
    lookup = "SELECT doi FROM latest WHERE job = ? AND part = ? AND off = ?"
    wanted = {s.value for s in filters.states}
    async for rec in iter_topic(settings, settings.state_topic):
        if rec.key is None or rec.value is None or _state_of(rec.value) not in wanted:
            continue
        found = db.execute(lookup, (rec.key, rec.partition, rec.offset)).fetchone()
        if found is None:
            continue  # a later record of this job exists
        try:
            record = decode_state(rec.value)
        except PoisonMessage:
            counts.undecodable += 1
            continue
        if filters.wants(record):
            counts.exported += 1
            yield row_for(record, found[0], store=store)


@contextlib.contextmanager
def index_db(tmp_dir: str | None) -> Iterator[sqlite3.Connection]:
    """A throw-away SQLite file (no journal, no fsync: it is rebuilt on every run)."""
    with tempfile.TemporaryDirectory(prefix="docfetch-export-", dir=tmp_dir) as where:
        db = sqlite3.connect(Path(where, "index.sqlite"), isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            db.execute(SCHEMA)
            db.execute("BEGIN")
            yield db
        finally:
            db.close()


class RowWriter:
    """JSONL (one object a line) or CSV (header, then rows; empty cells for nulls)."""

    def __init__(self, out: IO[str], fmt: str) -> None:
        self._out, self._csv = out, csv.writer(out) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(FIELDS)

    def write(self, row: dict[str, Any]) -> None:
        if self._csv is None:
            self._out.write(orjson.dumps(row).decode() + "\n")
        else:
            self._csv.writerow(["" if row[f] is None else row[f] for f in FIELDS])


def filters_from(args: argparse.Namespace, *, now_ms: int) -> Filters:
    try:
        states = frozenset(State(s) for s in (args.state or ["FINALIZED"]))
        statuses = frozenset(Status(s) for s in args.status) if args.status else None
    except ValueError as exc:
        raise ConfigError(f"{exc}; states: FINALIZED, FAILED; statuses: see docs/PRODUCER.md") from None
    if State.PLANNED in states:
        raise ConfigError("--state: only FINALIZED and FAILED are exported")
    return Filters(states=states, statuses=statuses, since_ms=since_ms(args.since, now_ms=now_ms))


def since_ms(text: str | None, *, now_ms: int) -> int | None:
    """--since: a duration back from now (30m, 2h, 1d) or an ISO 8601 time (UTC when no zone is given)."""
    if text is None:
        return None
    if text[-1:] in "smhd" and text[:1].isdigit():
        return now_ms - int(parse_duration_s(text) * 1000)
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--since {text!r}: give a duration (2h, 1d) or an ISO time") from None
    return int((when if when.tzinfo else when.replace(tzinfo=datetime.UTC)).timestamp() * 1000)


async def export(
    settings: KafkaSettings, filters: Filters, out: RowWriter, args: argparse.Namespace
) -> Counts:
    counts = Counts()
    store = Path(args.store) if args.store else None
    with index_db(args.tmp_dir) as db:
        await build_index(db, settings)
        await add_dois(db, settings, filters.states)
        async for row in export_rows(db, settings, filters, counts, store=store):
            out.write(row)
    return counts


def _output(path: str | None) -> contextlib.AbstractContextManager[IO[str]]:
    """--output FILE (newline="" as the csv module wants), else stdout (left open)."""
    return Path(path).open("w", newline="") if path else contextlib.nullcontext(sys.stdout)


async def run(args: argparse.Namespace) -> int:
    filters = filters_from(args, now_ms=time.time_ns() // 1_000_000)
    settings = kafka_settings(args)
    fmt = "jsonl" if args.json else args.format
    with _output(args.output) as out:
        counts = await export(settings, filters, RowWriter(out, fmt), args)
    skipped = f", {counts.undecodable} undecodable records skipped" if counts.undecodable else ""
    print(f"export: {counts.exported} jobs{skipped}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "export",
        help="stream every job's latest FINALIZED (or FAILED) record as JSONL or CSV, for downstream",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--state", action="append", metavar="STATE", help="FINALIZED (default) or FAILED; "
                        "repeatable")  # fmt: skip
    parser.add_argument("--status", action="append", metavar="S", help="only these status slugs; repeatable")
    parser.add_argument(
        "--since", metavar="WHEN", help="finished at or after: a duration (2h, 1d) or ISO time"
    )
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="output format (jsonl)")
    parser.add_argument("--json", action="store_true", help="the same as --format jsonl")
    parser.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--store", help="the artifact store directory, to print full store paths")
    parser.add_argument("--tmp-dir", metavar="DIR", help="where the temporary index goes (system temp dir)")
    add_kafka_flags(parser)
    parser.set_defaults(handler=run)
