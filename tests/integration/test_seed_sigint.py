"""Ctrl-C in the middle of a big seed: flushed, reported, exit 130; a re-run completes the set."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MakeTopics
from tests.integration.seedfix import cli_process, summary, topic_jobs

WORKS = 30_000  # big enough to be mid-way after the first progress line on a busy 2-core machine
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "works.jsonl"
    with path.open("wb") as out:
        subprocess.run([sys.executable, str(REPO / "bench" / "gen_openalex.py"), str(WORKS)], stdout=out,
                       check=True)  # fmt: skip
    return path


async def test_sigint_flushes_reports_and_rerun_completes(make_topics: MakeTopics, big_file: Path) -> None:
    settings = await make_topics(partitions=3)
    path = big_file

    proc = cli_process(settings, "seed", str(path), "--progress-every-s", "0.2")
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the first periodic progress line: seeding is under way
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)

    assert first.startswith("progress: line"), first + err
    assert proc.returncode == 130, err
    stopped_at = int(re.search(r"interrupted at line (\d+)", err).group(1))  # type: ignore[union-attr]
    counts = summary(out)
    assert 0 < stopped_at < WORKS and counts["read"] == stopped_at
    jobs, messages = await topic_jobs(settings)
    assert messages == counts["seeded"] == len(jobs)  # everything handed over was flushed

    rerun = cli_process(settings, "seed", str(path), "--quiet")
    out2, err2 = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, err2
    assert summary(out2)["seeded"] == WORKS
    jobs, _ = await topic_jobs(settings)
    assert len(jobs) == WORKS  # no job lost
