"""The seeding loop: outcomes -> Kafka, with in-file dedupe, skip-final, rejects, --max-errors, Ctrl-C."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, Any

import orjson

from producer.commands.jobmapping import Batch, Outcome
from producer.commands.jobsender import JobSender

STDERR_REJECTS_SHOWN = 1000  # past this many, rejected lines go only to --rejects (and the count)


def dedupe_key(job_id: str) -> bytes:
    """16 bytes of the job id: ~half the memory of the hex string; a collision needs ~2^64 jobs."""
    return bytes.fromhex(job_id[:32])


def final_keys(job_ids: Iterable[str]) -> set[bytes]:
    return {dedupe_key(j) for j in job_ids}


@dataclass
class Tally:
    """What happened to every line: read = seeded + duplicate + skipped_final + rejected + blank."""

    read: int = 0
    seeded: int = 0
    duplicate: int = 0
    skipped_final: int = 0
    rejected: int = 0
    blank: int = 0
    last_line: int = 0
    position_bytes: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    stopped: str | None = None  # why the loop ended before the end of the input

    def summary(self) -> str:
        return (
            f"summary: read={self.read} seeded={self.seeded} duplicate={self.duplicate} "
            f"skipped_final={self.skipped_final} rejected={self.rejected} blank={self.blank}"
        )


class RejectLog:
    """Rejected lines: on stderr (the first ones) and, when given, as JSONL in the --rejects file."""

    def __init__(self, *, stderr: IO[str], jsonl: IO[bytes] | None) -> None:
        self._stderr, self._jsonl, self._shown = stderr, jsonl, 0

    def add(self, line_no: int, reason: str, detail: str, raw: bytes) -> None:
        if self._shown < STDERR_REJECTS_SHOWN:
            print(f"line {line_no}: {reason}: {detail[:300]}", file=self._stderr)
            self._shown += 1
        if self._jsonl is not None:
            text = raw.decode("utf-8", "replace")  # an over-long line arrives as its excerpt only
            entry = {"line": line_no, "reason": reason, "detail": detail, "raw": text}
            if reason == "line-too-long":
                entry["truncated"] = True
            self._jsonl.write(orjson.dumps(entry) + b"\n")


class Interrupt:
    """While active, the first SIGINT only asks the loop to stop (it then flushes); a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> Interrupt:
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass(frozen=True)
class SeedRun:
    """Everything one seeding pass needs besides the input."""

    sender: JobSender
    rejects: RejectLog
    final: set[bytes]  # dedupe keys of FINALIZED jobs (--skip-final), else empty
    interrupt: Interrupt
    max_errors: int | None = None
    on_progress: Callable[[Tally], None] = lambda tally: None


async def seed_batches(batches: AsyncIterator[Batch], run: SeedRun) -> Tally:
    """Seed every outcome in order; tally.stopped says why it ended early, if it did."""
    tally, seen = Tally(), set[bytes]()
    async for position_bytes, outcomes in batches:
        for item in outcomes:
            await _handle(item, run, tally, seen)
            tally.stopped = _why_stop(run, tally)
            if tally.stopped:
                break
        await run.sender.linger()
        tally.position_bytes = position_bytes
        run.on_progress(tally)
        if tally.stopped:
            break
    return tally


def _why_stop(run: SeedRun, tally: Tally) -> str | None:
    if run.interrupt.requested:
        return f"interrupted at line {tally.last_line}"
    if run.max_errors is not None and tally.rejected >= run.max_errors:
        return f"stopped at line {tally.last_line}: {tally.rejected} rejected lines (--max-errors)"
    return None


async def _handle(item: Outcome, run: SeedRun, tally: Tally, seen: set[bytes]) -> None:
    kind, line_no = item[0], item[1]
    tally.read += 1
    tally.last_line = line_no
    if kind == "job":
        await _publish(item, run, tally, seen)
    elif kind == "reject":
        tally.rejected += 1
        tally.reasons[item[2]] += 1
        run.rejects.add(line_no, item[2], item[3], item[4])
    else:
        tally.blank += 1


async def _publish(item: Outcome, run: SeedRun, tally: Tally, seen: set[bytes]) -> None:
    job_id = item[2]
    key = dedupe_key(job_id)
    if key in seen:
        tally.duplicate += 1
    elif key in run.final:
        seen.add(key)
        tally.skipped_final += 1
    else:
        seen.add(key)
        partition = item[4] if len(item) > 4 else None  # seed passes the partition count
        await run.sender.send(job_id.encode("ascii"), item[3], item[1], partition)
        tally.seeded += 1
