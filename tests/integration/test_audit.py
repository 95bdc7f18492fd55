"""`docfetch-producer audit` on the real broker: each invariant violation, manufactured, is caught.

Records and job messages are written with plain producers, offsets with a plain consumer commit, and
artifacts as files in a temporary store; no docfetch consumer runs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from producer.commands import audit
from schemas import KafkaSettings, State, StateRecord, Status
from schemas.kafka import partitions_of
from schemas.topics import DLQ_OFFSET, DLQ_PARTITION, DLQ_REASON, DLQ_TOPIC
from tests.conftest import MakeTopics
from tests.integration.statefix import job, publish, record

OLD_S = 7200  # files are back-dated this far to be older than any grace period used here


def put(store: Path, content: bytes) -> Path:
    """Store `content` as the consumer would: sha256/ab/cd/<hex>."""
    path = audit.object_path(store, hashlib.sha256(content).hexdigest())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def finalized(work: str, content: bytes, *, attempt: int = 0) -> StateRecord:
    sha = hashlib.sha256(content).hexdigest()
    return record(work, State.FINALIZED, attempt=attempt).model_copy(
        update={"sha256": sha, "size": len(content)}
    )


async def commit_ends(settings: KafkaSettings, offsets: dict[int, int] | None = None) -> None:
    """Commit `offsets` (partition -> offset) for the group; by default the jobs topic's end offsets."""
    consumer = AIOKafkaConsumer(
        **settings.client_options(), group_id=settings.group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        if offsets is None:
            tps = await partitions_of(settings, settings.jobs_topic)
            offsets = {tp.partition: off for tp, off in (await consumer.end_offsets(tps)).items()}
        consumer.assign([TopicPartition(settings.jobs_topic, p) for p in offsets])
        await consumer.commit({TopicPartition(settings.jobs_topic, p): off for p, off in offsets.items()})
    finally:
        await consumer.stop()


async def dead_letter(settings: KafkaSettings, partition: int, offset: int) -> None:
    producer = AIOKafkaProducer(**settings.client_options(), acks="all")
    await producer.start()
    try:
        headers = [
            (DLQ_REASON, b"undecodable"),
            (DLQ_TOPIC, settings.jobs_topic.encode()),
            (DLQ_PARTITION, str(partition).encode()),
            (DLQ_OFFSET, str(offset).encode()),
        ]
        await producer.send_and_wait(settings.dlq_topic, b"not json", key=b"raw", headers=headers)
    finally:
        await producer.stop()


def audit_argv(settings: KafkaSettings, store: Path, *extra: str) -> list[str]:
    """An audit command line (after `docfetch-producer`) for this test's topics and group."""
    kafka = ["--bootstrap", settings.bootstrap_servers, "--group", settings.group_id]
    topics = ["--jobs-topic", settings.jobs_topic, "--state-topic", settings.state_topic]
    return ["audit", "--store", str(store), *kafka, *topics, "--dlq-topic", settings.dlq_topic, *extra]


def cli_args(settings: KafkaSettings, store: Path, *extra: str) -> argparse.Namespace:
    """Parse an audit command line exactly as docfetch-producer would."""
    parser = argparse.ArgumentParser()
    audit.register(parser.add_subparsers(dest="cmd"))
    return parser.parse_args(audit_argv(settings, store, *extra))


async def run(
    settings: KafkaSettings, store: Path, *, grace_s: float = 0, settled: bool = False
) -> audit.AuditReport:
    return await audit.audit(settings, store, grace_s=grace_s, settled=settled)


async def test_clean_run_passes_and_cli_prints_counts(
    make_topics: MakeTopics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=3)
    store = tmp_path / "store"
    works = {f"W{i}": f"%PDF-1.7 body {i}".encode() for i in range(4)}
    await publish(settings, settings.jobs_topic, [*(job(w) for w in works), b"poison"])
    await publish(settings, settings.state_topic, [record("W0", State.PLANNED)])
    await publish(settings, settings.state_topic, [finalized(w, c) for w, c in works.items()])
    for content in works.values():
        put(store, content)
    (poison,) = [p for p in await audit.job_positions(settings) if p.job_id is None]
    await dead_letter(settings, poison.partition, poison.offset)
    await commit_ends(settings)

    code = await audit.run_audit(cli_args(settings, store, "--json", "--settled", "--grace-s", "0"))

    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["ok"] is True
    assert out["violations"] == dict.fromkeys(audit.CHECKS, 0)
    assert out["jobs"]["seeded"] == 4 and out["jobs"]["terminal"] == 4 and out["jobs"]["finalized"] == 4
    assert out["jobs"]["poison"] == 1 and out["jobs"].get("pending", 0) == 0


async def test_pending_is_counted_and_is_a_violation_when_settled(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=1)
    await publish(settings, settings.jobs_topic, [job("W1"), job("W2"), job("W3")])
    failed = record("W2", State.FAILED, status=Status.NOT_FOUND)
    requeued = job("W3", attempt=1)  # terminal at attempt 0, then re-published at attempt 1: pending again
    await publish(settings, settings.jobs_topic, [requeued, job("W3")])  # a re-seed after it changes nothing
    await publish(
        settings, settings.state_topic, [record("W1", State.PLANNED), failed, finalized("W3", b"x")]
    )
    put(tmp_path, b"x")

    live = await run(settings, tmp_path)
    after = await run(settings, tmp_path, settled=True)

    assert live.ok, live.violations
    assert live.counts["pending"] == 2 and live.counts["terminal"] == 1 and live.counts["failed"] == 1
    assert {v.subject for v in after.violations} == {job("W1").job_id, requeued.job_id}
    assert after.by_check()["terminal"] == 2


async def test_two_finalized_at_one_attempt_is_a_duplicate(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=1)
    await publish(settings, settings.jobs_topic, [job("W1"), job("W2"), job("W2", attempt=1)])
    twice = [finalized("W1", b"a"), finalized("W1", b"a")]
    forced = [finalized("W2", b"a"), finalized("W2", b"a", attempt=1)]  # a forced re-download: fine
    await publish(settings, settings.state_topic, [*twice, *forced])
    put(tmp_path, b"a")

    report = await run(settings, tmp_path)

    assert [(v.check, v.subject) for v in report.violations] == [("duplicate-finalized", job("W1").job_id)]
    assert report.counts["duplicates"] == 1


async def test_missing_truncated_and_corrupt_artifacts(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=1)
    contents = {"W1": b"missing", "W2": b"truncated", "W3": b"corrupt", "W4": b"intact"}
    await publish(settings, settings.jobs_topic, [job(w) for w in contents])
    await publish(settings, settings.state_topic, [finalized(w, c) for w, c in contents.items()])
    put(tmp_path, b"truncated").write_bytes(b"trunc")
    put(tmp_path, b"corrupt").write_bytes(b"CORRUPT")
    put(tmp_path, b"intact")

    report = await run(settings, tmp_path)

    bad = {v.subject: v.detail for v in report.violations if v.check == "artifact"}
    assert set(bad) == {job("W1").job_id, job("W2").job_id, job("W3").job_id}
    assert "missing" in bad[job("W1").job_id] and "size 5" in bad[job("W2").job_id]
    assert "hashes to" in bad[job("W3").job_id]
    assert report.by_check()["orphan"] == 0  # a damaged object is still named by its record


async def test_committed_offset_past_unfinished_job_or_undead_lettered_poison(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=1)
    # offsets 0..4: done, planned-only, poison (no DLQ), requeued past its terminal record, beyond commit
    await publish(settings, settings.jobs_topic, [job("W1"), job("W2"), b"poison", job("W1", attempt=1)])
    await publish(settings, settings.jobs_topic, [job("W5")])
    await publish(settings, settings.state_topic, [finalized("W1", b"1"), record("W2", State.PLANNED)])
    put(tmp_path, b"1")
    await commit_ends(settings, {0: 4})

    report = await run(settings, tmp_path)

    found = sorted((v.subject, v.detail) for v in report.violations if v.check == "committed-offset")
    assert [s for s, _ in found] == sorted([job("W1").job_id, job("W2").job_id, "jobs 0/2"])
    assert any("attempt 1" in d for s, d in found if s == job("W1").job_id)
    # W5 (offset 4) is fine; W2's PLANNED is also orphaned (its source offset is below the commit)
    assert report.by_check()["committed-offset"] == len(report.violations) - 1
    assert [v.subject for v in report.violations if v.check == "orphaned-planned"] == [job("W2").job_id]

    await dead_letter(settings, 0, 2)
    await commit_ends(settings, {0: 2})
    found_after = {(v.check, v.subject) for v in (await run(settings, tmp_path)).violations}
    assert found_after == {("committed-offset", job("W2").job_id), ("orphaned-planned", job("W2").job_id)}


async def test_orphans_and_stale_temp_files_past_the_grace_period(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=1)
    await publish(settings, settings.jobs_topic, [job("W1")])
    await publish(settings, settings.state_topic, [finalized("W1", b"kept")])
    put(tmp_path, b"kept")
    orphan = put(tmp_path, b"orphan")
    stale = tmp_path / "tmp" / "download-123.part"
    stale.parent.mkdir()
    stale.write_bytes(b"half")
    young = put(tmp_path, b"young")
    for path in (orphan, stale, put(tmp_path, b"kept")):
        os.utime(path, (time.time() - OLD_S, time.time() - OLD_S))

    report = await run(settings, tmp_path, grace_s=OLD_S / 2)

    orphans = {v.subject for v in report.violations if v.check == "orphan"}
    assert orphans == {orphan.relative_to(tmp_path).as_posix(), "tmp/download-123.part"}
    assert report.counts["young-unreferenced-files"] == 1 and young.exists()
    assert report.by_check() == {**dict.fromkeys(audit.CHECKS, 0), "orphan": 2}


async def test_docfetch_producer_audit_exits_1_naming_the_job(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=1)
    await publish(settings, settings.jobs_topic, [job("W1")])
    await publish(settings, settings.state_topic, [finalized("W1", b"gone")])
    argv = audit_argv(settings, tmp_path, "--grace-s", "0")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "producer", *argv, stdout=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(60):
        out, _ = await proc.communicate()

    assert proc.returncode == audit.EXIT_VIOLATIONS
    assert f"VIOLATION artifact: {job('W1').job_id}" in out.decode()
