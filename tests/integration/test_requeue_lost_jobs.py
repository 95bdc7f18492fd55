"""requeue for jobs the jobs topic no longer holds (retention) and for orphaned PLANNED jobs; status and
audit see the orphans. Real broker, real consumer processes, the producer CLI in this process."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.admin.records_to_delete import RecordsToDelete

from producer.commands import audit
from producer.statereader import read_jobs, read_state
from schemas import KafkaSettings, State, Status, job_id
from schemas.kafka import admin_client
from tests.conftest import MakeTopics
from tests.faults.harness.process import ProcessPool
from tests.integration.consumer_harness import check_invariants, end_offsets, loopback_only, options, origin
from tests.integration.seedfix import run_cli
from tests.integration.statefix import job, publish, record
from tests.integration.test_status_inspect_requeue import _commit

WORKS = 4


async def _expire_jobs_topic(settings: KafkaSettings) -> None:
    """What retention does: the log start offset moves to the end; every job message is gone."""
    ends = await end_offsets(settings)
    async with admin_client(settings) as admin:
        await admin.delete_records(
            {TopicPartition(settings.jobs_topic, p): RecordsToDelete(end) for p, end in ends.items()}
        )
    assert (await read_jobs(settings)).jobs == {}


async def test_requeue_rebuilds_expired_jobs_from_the_seed_file(
    make_topics: MakeTopics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=2)
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        paths = [f"/pdf/back{i}" for i in range(WORKS)]
        farm.gone.update(paths)  # not there at first: every job ends FAILED not-found
        seed_file = tmp_path / "works.csv"
        seed_file.write_text("".join(f"R{i},{farm.url(p)}\n" for i, p in enumerate(paths)))
        assert await run_cli(settings, "seed", str(seed_file), "--format", "urls", "--quiet") == 0
        opts = loopback_only(options(settings, store, exit_when_idle_s=3), farm)
        first = pool.consumer("first", opts)
        assert await first.wait(90) == 0, first.tail()
        ids = {job_id(work_id=f"R{i}", url=None) for i in range(WORKS)}
        latest = (await read_state(settings)).latest
        assert {latest[j].status for j in ids} == {Status.NOT_FOUND}

        await _expire_jobs_topic(settings)
        farm.gone.clear()  # the documents are back
        capsys.readouterr()
        assert await run_cli(settings, "requeue", "--status", "not-found", "--dry-run") == 0
        assert f"{WORKS} selected jobs have no job message left" in capsys.readouterr().out
        argv = ("requeue", "--status", "not-found", "--seed-file", str(seed_file), "--format", "urls")
        assert await run_cli(settings, *argv) == 0
        assert f"requeued {WORKS} jobs" in capsys.readouterr().out
        assert {m.attempt for m in (await read_jobs(settings)).jobs.values()} == {1}

        second = pool.consumer("second", opts)
        assert await second.wait(90) == 0, second.tail()
    latest = (await read_state(settings)).latest
    assert {(latest[j].state, latest[j].attempt) for j in ids} == {(State.FINALIZED, 1)}
    result = await check_invariants(settings, store)
    assert result.violations == []


async def test_orphaned_planned_is_counted_selected_and_reported(
    make_topics: MakeTopics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """O's PLANNED came from offset 0, which the group committed past (a lost job); P's did not."""
    settings = await make_topics(partitions=1)
    await publish(settings, settings.jobs_topic, [job("O"), job("P")])
    orphan, live = record("O", State.PLANNED), record("P", State.PLANNED)
    live = live.model_copy(update={"source_offset": 1})
    await publish(settings, settings.state_topic, [orphan, live])
    await _commit(settings, {0: 1})

    assert await run_cli(settings, "status", "--json") == 0
    assert orjson.loads(capsys.readouterr().out)["orphaned"] == 1
    assert await run_cli(settings, "requeue", "--status", "not-found") == 0  # orphans whatever is named
    out = capsys.readouterr().out
    assert "requeued 1 jobs" in out and "orphaned PLANNED (committed past, never finished): 1" in out
    requeued = (await read_jobs(settings)).jobs
    assert requeued[job("O").job_id].attempt == 1 and requeued[job("P").job_id].attempt == 0

    report = await audit.audit(settings, tmp_path, grace_s=3600, settled=False)
    found = {(v.check, v.subject) for v in report.violations}
    assert found == {("orphaned-planned", job("O").job_id), ("committed-offset", job("O").job_id)}
