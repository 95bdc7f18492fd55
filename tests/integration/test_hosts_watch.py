"""`hosts` and `status --watch` on a real broker."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from schemas import Hop, KafkaSettings, State, StateRecord, Status, Tier
from tests.conftest import MakeTopics
from tests.integration.seedfix import run_cli
from tests.integration.statefix import job, publish, record

WATCH_TIMEOUT_S = 60.0  # a few reads of two tiny topics; only catches a watch that never ends


def _at(rec: StateRecord, url: str) -> StateRecord:
    hops = (Hop(url=url, tier=Tier.OA_PDF, http_status=200 if rec.state is State.FINALIZED else 404),)
    final = url if rec.state is State.FINALIZED else None
    return rec.model_copy(update={"hops": hops, "final_url": final})


async def test_hosts_counts_terminal_records_per_host(
    make_topics: MakeTopics, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=2)
    records = [_at(record(f"A{i}", State.FINALIZED), f"https://a.example/{i}.pdf") for i in range(5)]
    records += [
        _at(record(f"B{i}", State.FAILED, status=Status.NOT_FOUND), "https://b.example/x") for i in range(3)
    ]
    records += [record("P0", State.PLANNED)]
    await publish(settings, settings.state_topic, records)

    assert await run_cli(settings, "hosts", "--json") == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["records"] == 8
    got = {h["host"]: (h["jobs"], h["failures"], h["bytes"], h["last_status"]) for h in doc["hosts"]}
    assert got == {"a.example": (5, 0, 50, "success"), "b.example": (3, 3, 0, "not-found")}
    assert await run_cli(settings, "hosts", "--by", "failures", "--top", "1") == 0
    out = capsys.readouterr().out
    assert "top 1 by failures" in out and "b.example" in out and "a.example" not in out


async def _finish_later(settings: KafkaSettings, works: list[str]) -> None:
    await asyncio.sleep(1.5)
    await publish(settings, settings.state_topic, [record(w, State.FINALIZED) for w in works])


async def test_status_watch_prints_rate_and_eta_until_done(
    make_topics: MakeTopics, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=1)
    works = [f"W{i}" for i in range(6)]
    await publish(settings, settings.jobs_topic, [job(w) for w in works])
    await publish(settings, settings.state_topic, [record(w, State.FINALIZED) for w in works[:2]])

    async with asyncio.timeout(WATCH_TIMEOUT_S), asyncio.TaskGroup() as tasks:
        tasks.create_task(_finish_later(settings, works[2:]))
        code = await run_cli(settings, "status", "--watch", "--until-done", "--interval-s", "0.5")

    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 2
    assert " done 2/6 (33.3%) " in lines[0] and lines[0].endswith("rate=- jobs/s ETA -")
    assert " done 6/6 (100.0%) finalized=6 " in lines[-1] and " pending=0 " in lines[-1]
    assert "rate=- " not in lines[-1] and lines[-1].endswith("ETA 0s")
