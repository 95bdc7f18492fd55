"""The consumer's log on a real run: one line per job outcome (text or JSON), no per-request lines; the
store's sidecars name each exported artifact's type."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson

from schemas.artifacts import sidecar_path
from tests.conftest import MakeTopics
from tests.faults.harness.process import ProcessPool
from tests.integration.consumer_harness import loopback_only, make_job, options, origin, seed
from tests.integration.seedfix import run_cli

GOOD, MISSING = 8, 2


async def test_json_log_has_one_line_per_job_and_no_request_lines(
    make_topics: MakeTopics, tmp_path: Path, capsys: object
) -> None:
    settings = await make_topics(partitions=2)
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        jobs = [make_job(farm.url(f"/pdf/w{i}"), work=f"W{i}") for i in range(GOOD)]
        jobs += [make_job(farm.url(f"/status/404/m{i}"), work=f"M{i}") for i in range(MISSING)]
        await seed(settings, jobs)
        opts = options(settings, store, "--log-format", "json", exit_when_idle_s=3)
        proc = pool.consumer("c0", loopback_only(opts, farm))  # the 404s' archive lookups stay on loopback
        assert await proc.wait(90) == 0, proc.tail()
        log = proc.log_text()
    own = [line for line in log.splitlines() if not line.startswith("--- c0: ")]  # the harness's header
    lines = [orjson.loads(line) for line in own]  # every line the consumer wrote is one JSON object
    outcomes = [d for d in lines if d.get("event") == "job"]
    assert sorted(d["job"] for d in outcomes) == sorted(j.job_id for j in jobs)
    failed = {d["work"] for d in outcomes if d["status"] != "success"}
    assert failed == {f"M{i}" for i in range(MISSING)}
    assert all(d["status"] and d["bytes"] == 0 for d in outcomes if d["work"] in failed)
    assert all(d["bytes"] > 0 and d["tier"] == "oa_pdf" and d["seconds"] >= 0
               for d in outcomes if d["status"] == "success")  # fmt: skip
    assert not [d for d in lines if d["logger"].startswith(("httpx", "httpcore"))]
    assert "HTTP Request" not in log

    assert await run_cli(settings, "export", "--format", "csv", "--store", str(store)) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))  # type: ignore[attr-defined]
    assert len(rows) == GOOD
    check_sidecars(store, rows)


def check_sidecars(store: Path, rows: list[dict[str, str]]) -> None:
    """Each exported store path is a file, and its sidecar names the type and size."""
    for row in rows:
        assert Path(row["store_path"]).is_file()
        sidecar = orjson.loads(sidecar_path(store, row["sha256"]).read_bytes())
        assert sidecar["mimetype"] == "application/pdf" and sidecar["extension"] == "pdf"
        assert sidecar["size"] == int(row["size"])


async def test_text_log_has_one_key_value_line_per_job(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=1)
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        jobs = [make_job(farm.url(f"/pdf/t{i}"), work=f"T{i}") for i in range(5)]
        await seed(settings, jobs)
        proc = pool.consumer("c0", options(settings, tmp_path / "store", exit_when_idle_s=3))
        assert await proc.wait(90) == 0, proc.tail()
        log = proc.log_text()
    outcome_lines = [line for line in log.splitlines() if " event=job " in line]
    assert len(outcome_lines) == len(jobs)
    for job in jobs:
        (line,) = [x for x in outcome_lines if f"job={job.job_id}" in x]
        assert f"work={job.work_id} status=success tier=oa_pdf bytes=" in line
        assert " seconds=" in line
    assert "HTTP Request" not in log
