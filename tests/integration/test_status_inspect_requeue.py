"""status, inspect and requeue on topics with known job messages, state records and group offsets."""

from __future__ import annotations

import hashlib

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from producer.errors import ConfigError, NotFound
from producer.statereader import read_jobs
from schemas import KafkaSettings, State, Status, job_id_for_work
from tests.conftest import MakeTopics
from tests.integration.seedfix import run_cli
from tests.integration.statefix import job, publish, record

NOW_MS = 10**13  # records far in the past relative to it are "old"

# W1 finalized, W2 failed timeout (retryable), W3 failed not-found (terminal), W4 failed rate-limited,
# W5 planned, W6 pending (no record).
WORKS = ["W1", "W2", "W3", "W4", "W5", "W6"]


async def _world(settings: KafkaSettings) -> None:
    await publish(settings, settings.jobs_topic, [job(w) for w in WORKS])
    await publish(
        settings,
        settings.state_topic,
        [
            *(record(w, State.PLANNED) for w in WORKS[:5]),
            record("W1", State.FINALIZED),
            record("W2", State.FAILED, status=Status.TIMEOUT, ts_ms=1_000),
            record("W3", State.FAILED, status=Status.NOT_FOUND),
            record("W4", State.FAILED, status=Status.RATE_LIMITED, ts_ms=10**15),  # "recent"
        ],
    )


async def _commit(settings: KafkaSettings, offsets: dict[int, int]) -> None:
    consumer = AIOKafkaConsumer(**settings.client_options(), group_id=settings.group_id,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        tps = {TopicPartition(settings.jobs_topic, p): OffsetAndMetadata(o, "") for p, o in offsets.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()


async def test_status_json(make_topics: MakeTopics, capsys: pytest.CaptureFixture[str]) -> None:
    settings = await make_topics(partitions=2)
    await _world(settings)
    await _commit(settings, {0: 1})

    assert await run_cli(settings, "status", "--json") == 0

    report = orjson.loads(capsys.readouterr().out)
    assert report["states"] == {"PLANNED": 1, "FINALIZED": 1, "FAILED": 3}
    assert report["statuses"] == {"timeout": 1, "not-found": 1, "rate-limited": 1}
    assert report["pending"] == 1 and report["jobs"] == 6
    parts = {p["partition"]: p for p in report["partitions"]}
    assert sum(p["end"] for p in parts.values()) == 6
    assert parts[0]["committed"] == 1 and parts[0]["lag"] == parts[0]["end"] - 1
    assert parts[1]["committed"] is None and parts[1]["lag"] == parts[1]["end"]
    assert report["oldest_unfinished_job"] in {job_id_for_work("W5"), job_id_for_work("W6")}
    assert report["oldest_unfinished_age_s"] > 0


async def test_status_text(make_topics: MakeTopics, capsys: pytest.CaptureFixture[str]) -> None:
    settings = await make_topics(partitions=1)
    await _world(settings)
    assert await run_cli(settings, "status") == 0
    out = capsys.readouterr().out
    assert "jobs: 6 (pending 1)" in out and "failed by status: " in out and "lag=6" in out


async def test_inspect_by_work_shows_records_and_artifact(
    make_topics: MakeTopics, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=2)
    await _world(settings)

    assert await run_cli(settings, "inspect", "--work", "W1", "--store", "/data/store") == 0

    out = capsys.readouterr().out
    digest = hashlib.sha256(b"W1").hexdigest()
    assert out.index("PLANNED") < out.index("FINALIZED")
    assert f"artifact: /data/store/sha256/{digest[:2]}/{digest[2:4]}/{digest}" in out
    assert f"job {job_id_for_work('W1')} work=W1" in out


async def test_inspect_pending_and_unknown(
    make_topics: MakeTopics, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=2)
    await _world(settings)
    assert await run_cli(settings, "inspect", job_id_for_work("W6")) == 0
    assert "state records: none (pending)" in capsys.readouterr().out
    with pytest.raises(NotFound, match="neither the jobs topic nor the state topic"):
        await run_cli(settings, "inspect", "--work", "W999")


async def test_requeue_picks_exactly_the_named_statuses(
    make_topics: MakeTopics, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=2)
    await _world(settings)

    assert (
        await run_cli(settings, "requeue", "--status", "timeout", "--status", "not-found", "--dry-run") == 0
    )
    assert "would requeue 2 jobs" in capsys.readouterr().out
    assert len((await read_jobs(settings)).jobs) == 6 and await _messages(settings) == 6

    assert await run_cli(settings, "requeue", "--status", "timeout", "--status", "not-found") == 0
    assert "requeued 2 jobs" in capsys.readouterr().out
    jobs = (await read_jobs(settings)).jobs
    assert {w for w in WORKS if jobs[job_id_for_work(w)].attempt == 1} == {"W2", "W3"}
    assert jobs[job_id_for_work("W2")].candidates == job("W2").candidates

    assert await run_cli(settings, "requeue", "--status", "timeout") == 0  # already requeued
    assert "requeued 0 jobs" in capsys.readouterr().out
    assert await _messages(settings) == 8


async def test_requeue_default_is_retryable_only_with_age_and_force_final(
    make_topics: MakeTopics, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=1)
    await _world(settings)

    assert await run_cli(settings, "requeue", "--dry-run") == 0  # timeout + rate-limited, not not-found
    assert "would requeue 2 jobs" in capsys.readouterr().out
    assert await run_cli(settings, "requeue", "--older-than", "1h", "--dry-run") == 0  # W4 is "recent"
    assert "would requeue 1 jobs" in capsys.readouterr().out
    assert await run_cli(settings, "requeue", "--force-final") == 0
    assert "requeued 1 jobs (FINALIZED)" in capsys.readouterr().out
    assert (await read_jobs(settings)).jobs[job_id_for_work("W1")].attempt == 1
    with pytest.raises(ConfigError):
        await run_cli(settings, "requeue", "--status", "no-such-status")


async def _messages(settings: KafkaSettings) -> int:
    return sum(len(v) for v in (await read_jobs(settings)).offsets.values())
