"""Storage fault: the artifact store on a small tmpfs fills up mid-run, then space is freed (remount).

Needs root for mount(8); elsewhere the test is skipped and says so (a skip is never counted as a pass).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import MakeTopics
from tests.faults.harness import ProcessPool
from tests.faults.harness.origin import PAD_BYTES, Origin
from tests.faults.scenario import (
    LOOPBACK_ENGINE,
    conclude,
    jobs_for,
    options,
    publish,
    settle,
    wait_all_terminal,
)
from tests.faults.test_consumer_faults import assert_invariants

pytestmark = pytest.mark.faults

JOBS = 120
FULL_BYTES = 40 * (PAD_BYTES + 4096)  # room for roughly a third of the jobs' objects (tmpfs rounds to pages)
FREED_BYTES = 16 * 1024 * 1024
STORAGE_PAUSE_S = "2"  # how long the consumer pauses intake after a storage error (DOCFETCH_STORAGE_PAUSE_S)


def _mount(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False, timeout=10)


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of FULL_BYTES mounted for this test only; unmounted after."""
    store = tmp_path / "store"
    store.mkdir()
    result = _mount(["-t", "tmpfs", "-o", f"size={FULL_BYTES}", "tmpfs", str(store)])
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
    try:
        yield store
    finally:
        subprocess.run(["umount", "-l", str(store)], check=False, timeout=10)


async def test_disk_full_then_space_freed(make_topics: MakeTopics, small_store: Path, tmp_path: Path) -> None:
    settings = await make_topics(partitions=6)
    async with Origin(body_delay_s=0.02) as origin, ProcessPool(tmp_path / "logs") as pool:
        jobs = jobs_for(origin, JOBS)
        await publish(settings, list(jobs))
        opts = replace(
            options(settings, small_store),
            env={**LOOPBACK_ENGINE, "DOCFETCH_STORAGE_PAUSE_S": STORAGE_PAUSE_S},
        )
        consumer = pool.consumer("c0", opts)
        # the store fills after about a third of the jobs; the consumer logs that it pauses intake
        await consumer.wait_for_log("event=intake-paused reason=storage-error", timeout_s=90)
        await asyncio.sleep(float(STORAGE_PAUSE_S) * 2)  # stay full through a pause and a retry
        assert _mount(["-o", f"remount,size={FREED_BYTES}", str(small_store)]).returncode == 0
        freed = time.monotonic()
        await wait_all_terminal(settings, jobs, timeout_s=180)
        recover_s = time.monotonic() - freed
        consumer.terminate()
        await consumer.wait(30)
        await settle(pool, opts)
        outcome, _report = await conclude(
            "disk full (tmpfs), then space freed", settings, small_store, origin=origin, jobs=jobs,
            guarantee="exactly-once", recover_s=recover_s,
        )  # fmt: skip
    assert_invariants(outcome.violations)
    assert outcome.finalized + outcome.failed == JOBS
