"""status and audit through the scratch index (--tmp-dir, --index-memory-mb) agree with the in-memory read,
on the cases where history and latest differ: a tombstone, duplicate FINALIZED, a requeue, poison."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from producer.commands import audit
from producer.commands.status import summarize
from producer.scratchindex import IndexSettings
from producer.statereader import read_jobs, read_state
from schemas import KafkaSettings, State, StateRecord, Status, job_id_for_work
from tests.conftest import MakeTopics
from tests.integration.seedfix import run_cli
from tests.integration.statefix import job, publish, record


async def tombstone(settings: KafkaSettings, work: str) -> None:
    producer = AIOKafkaProducer(**settings.client_options(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(settings.state_topic, None, key=job_id_for_work(work).encode())
    finally:
        await producer.stop()


async def _world(settings: KafkaSettings, store: Path) -> None:
    body = b"%PDF-1.7 scratch"
    sha = hashlib.sha256(body).hexdigest()
    path = audit.object_path(store, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)

    def final(work: str, attempt: int = 0) -> StateRecord:
        return record(work, State.FINALIZED, attempt=attempt).model_copy(
            update={"sha256": sha, "size": len(body)}
        )

    await publish(settings, settings.jobs_topic, [job(w) for w in ("W1", "W2", "W3", "W4", "W5")])
    await publish(settings, settings.jobs_topic, [job("W3", attempt=1), b"poison"])
    await publish(settings, settings.state_topic, [
        record("W1", State.PLANNED), final("W1"), final("W1"),  # a duplicate
        record("W2", State.FAILED, status=Status.TIMEOUT), final("W3"),  # W3 requeued: pending
        record("W4", State.FAILED, status=Status.NOT_FOUND), b"not json",
        record("W5", State.PLANNED), record("W6", State.FAILED, status=Status.TIMEOUT),
    ])  # fmt: skip
    await tombstone(settings, "W4")  # an operator delete: W4 has no latest record, its history stays


async def test_status_and_audit_through_the_index_match_the_in_memory_read(
    make_topics: MakeTopics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=2)
    store, scratch = tmp_path / "store", tmp_path / "scratch"
    store.mkdir()
    scratch.mkdir()
    await _world(settings, store)

    assert (
        await run_cli(settings, "status", "--json", "--tmp-dir", str(scratch), "--index-memory-mb", "8") == 0
    )
    indexed = orjson.loads(capsys.readouterr().out)
    state, jobs = await read_state(settings), await read_jobs(settings)
    expected = summarize(state, jobs, {}, now_ms=time.time_ns() // 1_000_000)
    for key in ("jobs", "states", "statuses", "pending", "orphaned", "oldest_unfinished_job"):
        assert indexed[key] == getattr(expected, key), key
    assert indexed["undecodable_state_records"] == 1 and indexed["jobs"] == 6
    assert indexed["states"] == {"PLANNED": 1, "FINALIZED": 2, "FAILED": 2}  # W4 deleted

    streamed = await audit.audit(settings, store, grace_s=0, settled=True, index=IndexSettings(str(scratch)))
    in_memory = audit.evaluate(await audit.read_topics(settings), store, grace_s=0, settled=True)
    assert streamed.counts == in_memory.counts
    assert sorted(map(repr, streamed.violations)) == sorted(map(repr, in_memory.violations))
    assert streamed.by_check()["duplicate-finalized"] == 1 and streamed.counts["poison"] == 1
    assert {v.subject for v in streamed.violations if v.check == "terminal"} >= {job("W3").job_id}
    assert list(scratch.iterdir()) == []  # the index is removed on exit
