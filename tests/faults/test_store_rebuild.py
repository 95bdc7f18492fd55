"""A store that opens but whose reads fail (SST data blocks overwritten, sizes, footers and MANIFEST kept):
RocksDB raises on the restore's first read. The consumer deletes the store, rebuilds it from offset 0 and
works on: no terminal job is downloaded again, one FINALIZED per job."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MakeTopics
from tests.faults.harness import ProcessPool
from tests.faults.harness.origin import Origin
from tests.faults.scenario import conclude, jobs_for, options, publish, settle
from tests.faults.test_consumer_faults import assert_invariants

pytestmark = [pytest.mark.faults, pytest.mark.ci]

PARTITIONS = 2


def corrupt_tables(state_dir: Path) -> int:
    """Garbage over the first third of every SST file (its data blocks), same size: open succeeds."""
    corrupted = 0
    for table in state_dir.glob("*/*.sst"):
        size = table.stat().st_size
        with table.open("r+b") as f:
            f.write(b"\x13garbage" * (size // 24))
        corrupted += 1
    return corrupted


async def test_store_failing_on_read_is_rebuilt(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    async with Origin() as origin, ProcessPool(tmp_path / "logs") as pool:
        jobs = jobs_for(origin, 40)
        await publish(settings, list(jobs))
        opts = options(settings, store)
        await settle(pool, opts)  # closing flushes: every store has an SST
        downloads = origin.total_requests
        assert corrupt_tables(tmp_path / "state") >= PARTITIONS
        await publish(settings, list(jobs))  # the same jobs again: all terminal, nothing to download
        await settle(pool, opts)
        log = pool.processes[-1].log_text()
        outcome, _ = await conclude(
            "store failing on read", settings, store, origin=origin, jobs=jobs,
            guarantee="exactly-once", recover_s=None,
        )  # fmt: skip
    assert "event=state-store-failed" in log and "action=rebuild" in log, log[-3000:]
    assert origin.total_requests == downloads, "a terminal job was downloaded again"
    assert_invariants(outcome.violations)
    assert outcome.finalized == len(jobs) and outcome.duplicates == 0
