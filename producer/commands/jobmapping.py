"""Input lines -> outcomes (job, rejected, blank), in batches, in worker processes or inline.

Parsing and mapping a line costs more CPU than handing its message to Kafka, so worker processes map
lines while the main process sends (docs/BENCHMARKS.md "## Seeding"). Each worker reads the file
itself and maps every n-th batch of lines; only the small outcomes cross the pipes, and
the main process takes the batches in turn, so they arrive in line order with their line numbers.
Stdin is mapped inline (a spawned child has no stdin).
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

import orjson
from pydantic import ValidationError

from producer.commands.openalex import encoded_job_from_work
from producer.commands.seedfile import DEFAULT_MAX_LINE_BYTES, OverlongLine, SeedFile
from producer.commands.urllist import is_header, job_from_line
from producer.errors import InputError, ProducerError, RejectedLine
from schemas import encode
from schemas.topics import partition_for_key, partitions_for_keys

Mapper = Callable[[bytes, int], tuple[str, bytes]]  # (line, seeded_at_ms) -> (job id, encoded job)
# Outcomes: ("job", line_no, job_id, value[, partition]) | ("reject", line_no, reason, detail, raw)
# | ("blank", line_no). A job carries its partition (schemas.topics.partition_for_key, Kafka's default
# partitioner) when the caller gave the partition count: the murmur2 hash then costs the worker, not
# the sending process.
Outcome = tuple[Any, ...]
Batch = tuple[int, list[Outcome]]  # (bytes read so far, outcomes in line order)
Share = tuple[int, int]  # (this worker's index, number of workers)
# Mapping a line costs more CPU than sending its job (docs/BENCHMARKS.md "## Seeding"): by default two
# workers map while the main process sends (--mapping-workers).
DEFAULT_MAPPING_WORKERS = 2
MAX_MAPPING_WORKERS = 16
BATCH_LINES = 500  # per pipe message: amortises pickling and the thread hop, small enough to stream
WORKER_STOP_S = 5.0  # a worker that ignores terminate() this long is killed


def map_openalex(raw: bytes, seeded_at_ms: int) -> tuple[str, bytes]:
    try:
        work = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RejectedLine("not-json", str(exc)) from None
    return encoded_job_from_work(work, seeded_at_ms=seeded_at_ms)


def map_urls(raw: bytes, seeded_at_ms: int) -> tuple[str, bytes]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedLine("not-utf8", str(exc)) from None
    if is_header(line):
        raise RejectedLine("header", "the work_id,url header")
    job = job_from_line(line, seeded_at_ms=seeded_at_ms)
    return job.job_id, encode(job)


MAPPERS: dict[str, Mapper] = {"openalex": map_openalex, "urls": map_urls}


def outcome(raw: bytes, line_no: int, mapper: Mapper, partitions: int | None = None) -> Outcome:
    """What one line becomes; an optional `work_id,url` header on line 1 counts as blank."""
    if not raw.strip():
        return ("blank", line_no)
    try:
        job_id, value = mapper(raw, time.time_ns() // 1_000_000)
    except RejectedLine as exc:
        if exc.reason == "header" and line_no == 1:
            return ("blank", line_no)
        return ("reject", line_no, exc.reason, exc.detail, raw)
    except ValidationError as exc:  # a field past the job message's bounds (schemas.messages MAX_*)
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(job)"
        return ("reject", line_no, "out-of-bounds", f"{where}: {first['msg']}", raw)
    if partitions is None:
        return ("job", line_no, job_id, value)
    return ("job", line_no, job_id, value, partition_for_key(job_id.encode("ascii"), partitions))


def overlong(line: OverlongLine, line_no: int, max_line_bytes: int) -> Outcome:
    """The reject of a line past the limit; the rejects file gets its first bytes only."""
    detail = f"line of {line.length_bytes} bytes is longer than {max_line_bytes} (--max-line-bytes)"
    return ("reject", line_no, "line-too-long", detail, line.excerpt)


def outcome_batches(
    path: str,
    fmt: str,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    partitions: int | None = None,
    share: Share = (0, 1),
) -> Iterator[Batch]:
    """Batches of BATCH_LINES lines' outcomes; with share=(k, n) only every n-th batch from the k-th
    (the other lines are read and counted, not mapped), so n workers can split one file in order."""
    mapper, (mine, workers) = MAPPERS[fmt], share
    with SeedFile(path, max_line_bytes=max_line_bytes) as lines:
        batch: list[Outcome] = []
        for raw in lines:
            if (lines.line_no - 1) // BATCH_LINES % workers != mine:
                continue
            if isinstance(raw, OverlongLine):
                batch.append(overlong(raw, lines.line_no, max_line_bytes))
            else:
                batch.append(outcome(raw, lines.line_no, mapper))
            if len(batch) >= BATCH_LINES:
                yield lines.position_bytes(), placed(batch, partitions)
                batch = []
        if lines.line_no // BATCH_LINES % workers == mine:  # the last, partial (maybe empty) batch
            yield lines.position_bytes(), placed(batch, partitions)


def placed(batch: list[Outcome], partitions: int | None) -> list[Outcome]:
    """The batch with every job's partition appended when `partitions` is given: what
    `outcome(..., partitions)` gives line by line, hashed for the whole batch at once."""
    if partitions is None:
        return batch
    jobs = [i for i, item in enumerate(batch) if item[0] == "job"]
    keys = [batch[i][2].encode("ascii") for i in jobs]
    for i, partition in zip(jobs, partitions_for_keys(keys, partitions), strict=True):
        batch[i] = (*batch[i], partition)
    return batch


def _worker(
    path: str, fmt: str, max_line_bytes: int, partitions: int | None, share: Share, conn: Connection
) -> None:
    """Child process: send every batch of its share, then None; an unreadable input is sent as its
    message."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        for batch in outcome_batches(path, fmt, max_line_bytes, partitions, share):
            conn.send(batch)
        conn.send(None)
    except InputError as exc:
        conn.send(str(exc))
    except BrokenPipeError:
        return  # the parent stopped reading (interrupt, --max-errors)


async def _receive(receiver: Connection) -> Batch | None:
    try:
        item = await asyncio.to_thread(receiver.recv)
    except EOFError:
        raise ProducerError("the mapping worker process died; re-running is safe") from None
    if isinstance(item, str):
        raise InputError(item)
    return item  # type: ignore[no-any-return]


async def batches(
    path: str,
    fmt: str,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    partitions: int | None = None,
    workers: int = DEFAULT_MAPPING_WORKERS,
) -> AsyncIterator[Batch]:
    """The outcome batches of `path`, mapped by `workers` worker processes taking batches in turn and
    yielded in line order (inline for stdin); jobs carry their partition when `partitions` (the jobs
    topic's partition count) is given."""
    if path == "-":
        for batch in outcome_batches(path, fmt, max_line_bytes, partitions):
            yield batch
        return
    with SeedFile(path):  # fail fast, in this process, on a missing or unreadable file
        pass
    context = multiprocessing.get_context("spawn")
    receivers, processes = [], []
    for k in range(workers):
        receiver, sender = context.Pipe(duplex=False)
        args = (path, fmt, max_line_bytes, partitions, (k, workers), sender)
        processes.append(context.Process(target=_worker, args=args, daemon=True))
        processes[-1].start()
        sender.close()
        receivers.append(receiver)
    try:
        # Batch j comes from worker j % workers; the first worker out of batches marks the end.
        for turn in itertools.count():
            if (item := await _receive(receivers[turn % workers])) is None:
                break
            yield item
    finally:
        for receiver, process in zip(receivers, processes, strict=True):
            receiver.close()
            process.terminate()
        for process in processes:
            await asyncio.to_thread(process.join, WORKER_STOP_S)
