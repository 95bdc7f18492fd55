"""`docfetch-producer export` on a real broker: latest record per job only, filters, DOI, JSONL and CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest

from producer.errors import ConfigError
from schemas import KafkaSettings, State, Status, job_id_for_work
from tests.conftest import MakeTopics
from tests.integration.seedfix import run_cli
from tests.integration.statefix import job, publish, record

# W1 finalized; W2 finalized at attempt 0, then requeued and FAILED at attempt 1 (latest: FAILED);
# W3 failed then requeued and finalized at attempt 1 (latest: FINALIZED); W4 failed timeout; W5 planned.
WORKS = ["W1", "W2", "W3", "W4", "W5"]


async def _world(settings: KafkaSettings) -> None:
    jobs = [job(w).model_copy(update={"doi": f"10.1/{w.lower()}"}) for w in WORKS]
    await publish(settings, settings.jobs_topic, jobs)
    await publish(
        settings,
        settings.state_topic,
        [
            record("W1", State.FINALIZED, ts_ms=5_000),
            record("W2", State.FINALIZED, ts_ms=1_000),
            record("W3", State.FAILED, status=Status.TIMEOUT, ts_ms=1_000),
            record("W4", State.FAILED, status=Status.TIMEOUT, ts_ms=3_000),
            record("W5", State.PLANNED),
            record("W2", State.PLANNED, attempt=1),
            record("W2", State.FAILED, status=Status.NOT_FOUND, attempt=1, ts_ms=9_000),
            record("W3", State.FINALIZED, attempt=1, ts_ms=8_000),
        ],
    )


def _jsonl(out: str) -> dict[str, dict[str, object]]:
    rows = [orjson.loads(line) for line in out.splitlines()]
    by_work = {str(r["work_id"]): r for r in rows}
    assert len(by_work) == len(rows), "one row per job"
    return by_work


async def test_export_gives_each_jobs_latest_finalized_record(
    make_topics: MakeTopics, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=2)
    await _world(settings)

    assert await run_cli(settings, "export", "--store", "/data/store") == 0

    captured = capsys.readouterr()
    rows = _jsonl(captured.out)
    assert sorted(rows) == ["W1", "W3"]  # W2's FINALIZED was superseded by its attempt-1 FAILED
    w3 = rows["W3"]
    sha = str(w3["sha256"])
    assert w3["job_id"] == job_id_for_work("W3")
    assert w3["attempt"] == 1 and w3["state"] == "FINALIZED" and w3["status"] == "success"
    assert w3["doi"] == "10.1/w3" and w3["size"] == 10
    assert w3["store_path"] == f"/data/store/sha256/{sha[:2]}/{sha[2:4]}/{sha}"
    assert w3["finished_at"] == "1970-01-01T00:00:08.000+00:00"
    assert "export: 2 jobs" in captured.err


async def test_export_filters_failed_by_status_and_since_as_csv(
    make_topics: MakeTopics, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = await make_topics(partitions=3)
    await _world(settings)
    out = tmp_path / "failed.csv"

    code = await run_cli(settings, "export", "--state", "FAILED", "--format", "csv", "-o", str(out),
                         "--since", "1970-01-01T00:00:02")  # fmt: skip

    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert sorted((r["work_id"], r["status"]) for r in rows) == [("W2", "not-found"), ("W4", "timeout")]
    assert all(r["sha256"] == "" and r["store_path"] == "" for r in rows)
    assert await run_cli(settings, "export", "--state", "FAILED", "--status", "timeout") == 0
    assert sorted(_jsonl(capsys.readouterr().out)) == ["W4"]


async def test_export_takes_a_later_record_and_refuses_bad_flags(
    make_topics: MakeTopics, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=1)
    await _world(settings)
    await publish(settings, settings.state_topic, [record("W1", State.FINALIZED, attempt=2)])
    assert await run_cli(settings, "export", "--json") == 0
    rows = _jsonl(capsys.readouterr().out)
    assert rows["W1"]["attempt"] == 2 and sorted(rows) == ["W1", "W3"]
    with pytest.raises(ConfigError):
        await run_cli(settings, "export", "--state", "PLANNED")
    with pytest.raises(ConfigError):
        await run_cli(settings, "export", "--since", "yesterday")
