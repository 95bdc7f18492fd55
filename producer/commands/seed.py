"""`docfetch-producer seed PATH|-`: seed jobs from an OpenAlex works file or a URL list."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import IO

from pydantic import ValidationError

from producer import statereader
from producer.commands.jobmapping import DEFAULT_MAPPING_WORKERS, MAPPERS, MAX_MAPPING_WORKERS, batches
from producer.commands.jobsender import JobSender, SendCounters
from producer.commands.seedfile import MIN_LINE_BYTES, SeedFileSettings
from producer.commands.seedloop import Interrupt, RejectLog, SeedRun, Tally, final_keys, seed_batches
from producer.commands.seedprogress import PLAIN_INTERVAL_S, SeedProgress
from producer.errors import ConfigError, InputError
from schemas import KafkaSettings
from schemas.settings import add_kafka_flags, kafka_settings
from schemas.topology import check

EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "seed",
        help="seed jobs from OpenAlex works (JSONL, .gz) or a URL list",
        description="Exit 0 only when every line was seeded or deliberately skipped (duplicate, final, "
        "blank); 1 when lines were rejected or not acknowledged; 130 on Ctrl-C (re-running is safe).",
    )
    parser.add_argument("path", help="input file (plain or gzip), or - for stdin")
    parser.add_argument("--format", choices=sorted(MAPPERS), default="openalex", help="(openalex)")
    parser.add_argument(
        "--skip-final",
        action="store_true",
        help="read the state topic first and do not publish jobs already FINALIZED",
    )
    parser.add_argument("--rejects", metavar="FILE", help="write rejected lines here as JSONL")
    parser.add_argument("--max-errors", type=int, metavar="N", help="stop after N rejected lines")
    parser.add_argument(
        "--max-line-bytes",
        type=int,
        metavar="N",
        help="reject longer lines, by line number, without reading them whole "
        "[DOCFETCH_SEED_MAX_LINE_BYTES, 1048576]",
    )
    parser.add_argument(
        "--mapping-workers",
        type=int,
        default=DEFAULT_MAPPING_WORKERS,
        metavar="N",
        help=f"processes that parse and map a file's lines while this one sends (not for stdin) "
        f"[{DEFAULT_MAPPING_WORKERS}]",
    )
    parser.add_argument("--compression", choices=COMPRESSIONS, default="none", help="(none)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--progress-every-s", type=float, default=PLAIN_INTERVAL_S, help="plain progress line interval (10)"
    )
    parser.add_argument("--pushgateway", metavar="URL", help="push the producer counters there at the end")
    add_kafka_flags(parser)
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    settings = kafka_settings(args)
    if args.max_errors is not None and args.max_errors < 1:
        raise ConfigError("--max-errors must be at least 1")
    args.max_line_bytes = _max_line_bytes(args.max_line_bytes)
    if not 1 <= args.mapping_workers <= MAX_MAPPING_WORKERS:
        raise ConfigError(f"--mapping-workers must be 1 to {MAX_MAPPING_WORKERS}")
    await check(settings)
    final = final_keys(await statereader.finalized_job_ids(settings)) if args.skip_final else set()
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        # One task and a local file: a blocking open is harmless here.
        rejects = stack.enter_context(open(args.rejects, "wb")) if args.rejects else None  # noqa: ASYNC230
        tally, counters = await _seed(args, settings=settings, final=final, rejects=rejects)
    _report(tally, counters, elapsed_s=time.monotonic() - started)
    if args.pushgateway:
        push_counters(args.pushgateway, tally=tally, counters=counters)
    return _exit_code(tally, counters)


def _max_line_bytes(flag: int | None) -> int:
    """--max-line-bytes, else DOCFETCH_SEED_MAX_LINE_BYTES, else 1 MiB; at least 1 KiB."""
    try:
        limit = SeedFileSettings().seed_max_line_bytes if flag is None else flag
    except ValidationError:
        raise ConfigError("DOCFETCH_SEED_MAX_LINE_BYTES must be an integer of at least 1024") from None
    if limit < MIN_LINE_BYTES:
        raise ConfigError(f"--max-line-bytes must be at least {MIN_LINE_BYTES}")
    return limit


async def _seed(
    args: argparse.Namespace, *, settings: KafkaSettings, final: set[bytes], rejects: IO[bytes] | None
) -> tuple[Tally, SendCounters]:
    compression = None if args.compression == "none" else args.compression
    sender = JobSender(settings, topic=settings.jobs_topic, compression=compression)
    size_bytes = None if args.path == "-" else _size_bytes(args.path)
    with (
        Interrupt() as interrupt,
        SeedProgress(
            size_bytes=size_bytes, stream=sys.stderr, quiet=args.quiet, every_s=args.progress_every_s
        ) as progress,
    ):
        async with sender:
            seed_run = SeedRun(
                sender=sender,
                rejects=RejectLog(stderr=sys.stderr, jsonl=rejects),
                final=final,
                interrupt=interrupt,
                max_errors=args.max_errors,
                on_progress=progress.update,
            )
            outcomes = batches(
                args.path,
                args.format,
                args.max_line_bytes,
                partitions=sender.partitions,
                workers=args.mapping_workers,
            )
            tally = await seed_batches(outcomes, seed_run)
    return tally, sender.counters


def _size_bytes(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _report(tally: Tally, counters: SendCounters, *, elapsed_s: float) -> None:
    tally.seeded -= counters.failed  # unacknowledged messages are not seeded
    print(tally.summary())
    if tally.reasons:
        print("rejected by reason: " + " ".join(f"{r}={n}" for r, n in tally.reasons.most_common()))
    rate = counters.acked / max(elapsed_s, 1e-9)
    print(
        f"producer: sent={counters.sent} acked={counters.acked} failed={counters.failed} "
        f"bytes={counters.bytes_sent} elapsed_s={elapsed_s:.1f} rate={rate:.0f} jobs/s"
    )
    for line_no, error in counters.errors:
        print(f"line {line_no}: not acknowledged: {error}", file=sys.stderr)
    if tally.stopped:
        print(
            f"{tally.stopped}; every line up to it is handled and flushed. Re-running with the same "
            "input is safe (deterministic job ids; final jobs are skipped).",
            file=sys.stderr,
        )


def _exit_code(tally: Tally, counters: SendCounters) -> int:
    if tally.stopped and tally.stopped.startswith("interrupted"):
        return EXIT_INTERRUPTED
    return 1 if tally.rejected or counters.failed or tally.stopped else 0


def push_counters(url: str, *, tally: Tally, counters: SendCounters) -> None:
    """One push of this run's counters (job label "docfetch_seed") to a Prometheus Pushgateway."""
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    registry = CollectorRegistry()
    lines = Gauge("docfetch_seed_lines", "Seed input lines by outcome", ["outcome"], registry=registry)
    for outcome in ("read", "seeded", "duplicate", "skipped_final", "rejected", "blank"):
        lines.labels(outcome).set(getattr(tally, outcome))
    sent = Gauge("docfetch_seed_messages", "Job messages by producer outcome", ["outcome"], registry=registry)
    for outcome in ("sent", "acked", "failed"):
        sent.labels(outcome).set(getattr(counters, outcome))
    Gauge("docfetch_seed_bytes", "Job message bytes sent", registry=registry).set(counters.bytes_sent)
    push_to_gateway(url, job="docfetch_seed", registry=registry)
