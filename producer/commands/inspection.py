"""`docfetch-producer inspect JOB_ID | --work W… | --url URL | --doi DOI [--json]`: one job's messages and
records, in order (a DOI may name several jobs: each is shown)."""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from producer.errors import ConfigError, NotFound
from schemas import (
    InvalidURL,
    JobMessage,
    KafkaSettings,
    PoisonMessage,
    State,
    StateRecord,
    decode_job,
    decode_state,
    job_id,
)
from schemas.artifacts import object_path, object_relpath
from schemas.doi import doi_key
from schemas.settings import add_kafka_flags, kafka_settings
from schemas.topicreader import iter_topic

M = TypeVar("M")


def artifact_path(sha256: str, *, store: str | None) -> str:
    """Where the artifact store keeps this content (schemas.artifacts): <store>/sha256/ab/cd/<hex>."""
    return str(object_path(Path(store), sha256) if store else object_relpath(sha256))


def resolve_job_id(args: argparse.Namespace) -> str:
    """The job id from JOB_ID, --work or --url (exactly one; --doi is resolved from the jobs topic)."""
    given = [x for x in (args.job_id, args.work, args.url, getattr(args, "doi", None)) if x]
    if len(given) != 1:
        raise ConfigError("give exactly one of JOB_ID, --work W…, --url URL, --doi DOI")
    if args.job_id:
        return str(args.job_id).lower()
    try:
        return job_id(work_id=args.work, url=args.url)
    except InvalidURL as exc:
        raise ConfigError(f"--url: {exc}") from None


def _ts(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).isoformat(timespec="milliseconds")


def describe_message(job: JobMessage, where: tuple[int, int]) -> str:
    tiers = ",".join(c.tier.value for c in job.candidates)
    return (
        f"  job message p{where[0]}@{where[1]} attempt={job.attempt} seeded={_ts(job.seeded_at_ms)} "
        f"source={job.source} candidates={len(job.candidates)} [{tiers}]"
    )


def describe_record(record: StateRecord) -> list[str]:
    head = (
        f"  {_ts(record.ts_ms)} {record.state.value:<9} attempt={record.attempt} "
        f"status={record.status or '-'} owner={record.owner} epoch={record.epoch} "
        f"source=p{record.source_partition}@{record.source_offset}"
    )
    lines = [head]
    if record.state is State.FINALIZED:
        lines.append(f"      sha256={record.sha256} size={record.size} mimetype={record.mimetype} "
                     f"tier={record.tier} final_url={record.final_url}")  # fmt: skip
    lines += [f"      hop {h.tier.value} {h.http_status or '-'} {h.url} {h.note or ''}" for h in record.hops]
    if record.detail:
        lines.append(f"      detail: {record.detail}")
    return lines


async def _keyed(settings: KafkaSettings, topic: str, jid: str) -> list[tuple[int, int, bytes | None]]:
    """(partition, offset, value) of every committed record keyed by `jid`; others are not decoded."""
    key = jid.encode("ascii")
    return [(r.partition, r.offset, r.value) async for r in iter_topic(settings, topic) if r.key == key]


def _decoded(decode: Callable[[bytes | None], M], raw: bytes | None, what: str) -> M | None:
    """`decode(raw)`, or None after a note naming `what` could not be decoded."""
    try:
        return decode(raw)
    except PoisonMessage as exc:
        print(f"  (undecodable {what}: {exc})")
        return None


def _job(raw: bytes | None) -> JobMessage | None:
    return _decoded(decode_job, raw, "job message")


def _record(raw: bytes | None) -> StateRecord | None:
    return _decoded(decode_state, raw, "state record")


async def jobs_with_doi(settings: KafkaSettings, doi: str) -> list[str]:
    """Ids of the jobs whose job messages carry this DOI (a scan of the jobs topic), in first-seen order."""
    wanted, found = doi_key(doi).encode(), dict[str, None]()
    async for rec in iter_topic(settings, settings.jobs_topic):
        if rec.value is None or wanted not in rec.value.lower():
            continue  # cheap byte test first: only candidate messages are decoded
        job = _job(rec.value)
        if job is not None and job.doi and doi_key(job.doi) == wanted.decode():
            found[job.job_id] = None
    return list(found)


async def read_job(
    settings: KafkaSettings, jid: str
) -> tuple[list[tuple[int, int, JobMessage]], list[StateRecord]]:
    """(partition, offset, message) of the job's messages, and its state records, in order."""
    messages = [(p, o, j) for p, o, v in await _keyed(settings, settings.jobs_topic, jid) if (j := _job(v))]
    history = [r for _p, _o, v in await _keyed(settings, settings.state_topic, jid) if (r := _record(v))]
    if not history and not messages:
        raise NotFound(f"job {jid} is on neither the jobs topic nor the state topic")
    return messages, history


def as_json(jid: str, messages: list[tuple[int, int, JobMessage]], history: list[StateRecord],
            store: str | None) -> dict[str, Any]:  # fmt: skip
    """The --json object of one job: its messages (with partition/offset), records and artifact path."""
    last = history[-1] if history else None
    final = last is not None and last.state is State.FINALIZED and last.sha256
    return {
        "job_id": jid,
        "work_id": messages[-1][2].work_id if messages else history[-1].work_id,
        "doi": messages[-1][2].doi if messages else None,
        "messages": [{"partition": p, "offset": o, **m.model_dump(mode="json")} for p, o, m in messages],
        "records": [r.model_dump(mode="json") for r in history],
        "artifact": artifact_path(last.sha256, store=store) if final and last and last.sha256 else None,
    }


def print_job(jid: str, messages: list[tuple[int, int, JobMessage]], history: list[StateRecord],
              store: str | None) -> None:  # fmt: skip
    work = messages[-1][2].work_id if messages else history[-1].work_id
    print(f"job {jid} work={work or '-'}")
    for partition, offset, job in messages:
        print(describe_message(job, (partition, offset)))
    print(f"state records ({len(history)}):" if history else "state records: none (pending)")
    for record in history:
        print("\n".join(describe_record(record)))
    if history and history[-1].state is State.FINALIZED and history[-1].sha256:
        print(f"artifact: {artifact_path(history[-1].sha256, store=store)}")


async def run(args: argparse.Namespace) -> int:
    settings = kafka_settings(args)
    if args.doi and not (args.job_id or args.work or args.url):
        jids = await jobs_with_doi(settings, args.doi)
        if not jids:
            raise NotFound(f"no job message on the jobs topic carries DOI {doi_key(args.doi)}")
    else:
        jids = [resolve_job_id(args)]
    found = [(jid, *await read_job(settings, jid)) for jid in jids]
    if args.json:
        docs = [as_json(jid, m, h, args.store) for jid, m, h in found]
        print(orjson.dumps(docs if args.doi else docs[0], option=orjson.OPT_INDENT_2).decode())
        return 0
    for jid, messages, history in found:
        print_job(jid, messages, history, args.store)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("inspect", help="every record of one job, and its artifact path when final")
    parser.add_argument("job_id", nargs="?", help="the job id (64 hex characters)")
    parser.add_argument("--work", help="an OpenAlex work id (W…) or the work id of a URL-list line")
    parser.add_argument("--url", help="a URL seeded without a work id")
    parser.add_argument("--doi", help="a DOI (10.… or https://doi.org/10.…): every job seeded with it")
    parser.add_argument("--store", help="the artifact store directory, to print a full path")
    parser.add_argument("--json", action="store_true", help="one JSON object (a list with --doi): messages, "
                        "records, artifact")  # fmt: skip
    add_kafka_flags(parser)
    parser.set_defaults(handler=run)
