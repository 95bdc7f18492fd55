"""inspect --doi / --json and requeue --json on a real broker."""

from __future__ import annotations

import orjson
import pytest

from producer.errors import NotFound
from schemas import KafkaSettings, State, Status, job_id_for_work
from tests.conftest import MakeTopics
from tests.integration.seedfix import run_cli
from tests.integration.statefix import job, publish, record


async def _world(settings: KafkaSettings) -> None:
    # W1 and W2 share a DOI (two works seeded with one DOI); W3 has another, W4 none.
    dois = {"W1": "10.1234/Shared", "W2": "10.1234/shared", "W3": "10.9/other", "W4": None}
    await publish(
        settings, settings.jobs_topic, [job(w).model_copy(update={"doi": d}) for w, d in dois.items()]
    )
    await publish(settings, settings.state_topic, [
        record("W1", State.FINALIZED), record("W2", State.FAILED, status=Status.TIMEOUT),
        record("W3", State.FAILED, status=Status.NOT_FOUND),
    ])  # fmt: skip


async def test_inspect_by_doi_finds_every_job_with_it(
    make_topics: MakeTopics, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=2)
    await _world(settings)

    assert await run_cli(settings, "inspect", "--doi", "https://doi.org/10.1234/SHARED", "--json") == 0

    docs = orjson.loads(capsys.readouterr().out)
    assert sorted(d["work_id"] for d in docs) == ["W1", "W2"]
    w1 = next(d for d in docs if d["work_id"] == "W1")
    assert w1["job_id"] == job_id_for_work("W1") and w1["doi"] == "10.1234/Shared"
    assert [r["state"] for r in w1["records"]] == ["FINALIZED"]
    assert w1["artifact"].startswith("sha256/") and w1["messages"][0]["partition"] in (0, 1)
    assert await run_cli(settings, "inspect", "--doi", "10.9/other") == 0
    assert f"job {job_id_for_work('W3')} work=W3" in capsys.readouterr().out
    with pytest.raises(NotFound, match=r"10\.5/none"):
        await run_cli(settings, "inspect", "--doi", "10.5/none")


async def test_inspect_json_of_one_job(make_topics: MakeTopics, capsys: pytest.CaptureFixture[str]) -> None:
    settings = await make_topics(partitions=1)
    await _world(settings)
    assert await run_cli(settings, "inspect", "--work", "W2", "--json") == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["work_id"] == "W2" and doc["artifact"] is None
    assert doc["records"][0]["status"] == "timeout"


async def test_requeue_json_lists_every_job(
    make_topics: MakeTopics, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=1)
    await _world(settings)
    assert await run_cli(settings, "requeue", "--dry-run", "--json") == 0
    plan = orjson.loads(capsys.readouterr().out)
    assert plan["dry_run"] is True and plan["requeued"] == 1
    assert plan["jobs"] == [{"job_id": job_id_for_work("W2"), "work_id": "W2", "attempt": 1}]
    assert await run_cli(settings, "requeue", "--json", "--status", "not-found") == 0
    done = orjson.loads(capsys.readouterr().out)
    assert done["dry_run"] is False and [j["work_id"] for j in done["jobs"]] == ["W3"]
    assert await run_cli(settings, "requeue", "--json", "--status", "not-found") == 0
    again = orjson.loads(capsys.readouterr().out)
    assert again["requeued"] == 0 and again["already_requeued"] == 1
