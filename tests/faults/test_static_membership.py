"""Static membership (DOCFETCH_INSTANCE_ID): a consumer restarted within the session timeout gets its
partitions back without a rebalance of the other member, and its restore is warm (from the checkpoint)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import pytest

from tests.conftest import MakeTopics
from tests.faults.harness.process import ProcessPool
from tests.integration.consumer_harness import (
    loopback_only,
    make_job,
    options,
    origin,
    seed,
    wait_committed_at_end,
)

pytestmark = pytest.mark.faults

SESSION_MS = "30000"  # a restart of a Python process takes a few seconds: well within this
RESTORED = re.compile(
    r"event=restored partition=(\d+) records=(\d+) .* from_offset=(\d+) kind=(\w+) rebuilt=(\S+)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rebalances(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found = re.search(r"^docfetch_rebalances_total\S* (\S+)$", text, re.M)
    assert found is not None, text[:2000]
    return float(found[1])


async def test_static_member_restart_keeps_its_partitions_warm(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=4)
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        await seed(settings, [make_job(farm.url(f"/pdf/a{i}"), work=f"A{i}") for i in range(40)])

        def member(name: str, port: int) -> object:
            opts = options(settings, store, "--session-timeout-ms", SESSION_MS, metrics_port=port)
            return loopback_only(opts, farm, DOCFETCH_INSTANCE_ID=f"member-{name}")

        p1, p0 = free_port(), free_port()
        c1 = pool.consumer("c1", member("c1", p1))  # type: ignore[arg-type]
        await c1.wait_for_log(r"event=restored partition=", 60)  # c1 joins first: the group's leader
        c0 = pool.consumer("c0", member("c0", p0))  # type: ignore[arg-type]
        await c0.wait_for_log(r"event=restored partition=", 90)
        await wait_committed_at_end(settings, timeout_s=90)
        before, assigned_before = rebalances(p1), c1.log_text().count("event=assigned")
        owned = {int(m[1]) for m in RESTORED.finditer(c0.log_text())}
        assert owned and len(owned) < 4

        c0.terminate()
        assert await c0.wait(30) == 0, c0.tail()
        c0b = pool.consumer("c0b", member("c0", p0))  # type: ignore[arg-type]
        await c0b.wait_for_log(r"event=restored partition=", 60)
        await seed(settings, [make_job(farm.url(f"/pdf/b{i}"), work=f"B{i}") for i in range(40)])
        await wait_committed_at_end(settings, timeout_s=90)

        again = {int(m[1]): m for m in RESTORED.finditer(c0b.log_text())}
        assert set(again) == owned, c0b.tail()  # its own partitions back
        for m in again.values():  # warm: from the checkpoint the shutdown left, nothing (or little) to read
            assert (m[4], m[5], int(m[2])) == ("persistent", "None", 0), m[0]
            assert int(m[3]) > 0, m[0]
        assert rebalances(p1) == before, c1.tail()
        assert c1.log_text().count("event=assigned") == assigned_before, c1.tail()
