"""Politeness for the whole consumer group (issue 12 item 7): three engines, each owning 1 of 3
partitions, against one loopback origin host: the aggregate request rate stays within 10 % of the
configured per-host rate, and the host never sees more requests at once than the configured concurrency."""

from __future__ import annotations

import asyncio
from pathlib import Path

from consumer.fetch import Engine
from consumer.outcome import FetchOutcome, GroupShared
from consumer.storage import Store
from originfarm import Farm
from schemas import Tier
from tests.integration.farm_fixtures import engine_settings, make_job, origin_farm

__all__ = ["origin_farm"]

INTERVAL_S = 0.2  # the group's per-host rate: 5 requests/s
PER_ENGINE = 7  # requests each engine makes (robots.txt included): ~4 s of traffic


async def _engine_run(farm: Farm, root: Path, name: str, owned: int, total: int) -> list[FetchOutcome]:
    settings = engine_settings(farm, host_min_interval_s=INTERVAL_S, host_concurrency=3, job_deadline_s=60.0)
    store = Store(root / name, max_bytes=settings.max_bytes)
    urls = [farm.url("polite", f"/pdf/5000/{name}-{i}.pdf") for i in range(PER_ENGINE - 1)]
    async with Engine(settings=settings, store=store) as engine, asyncio.TaskGroup() as group:
        assert isinstance(engine, GroupShared)
        engine.set_group_share(owned, total)
        tasks = [group.create_task(engine.fetch(make_job((Tier.OA_PDF, url)))) for url in urls]
    return [task.result() for task in tasks]


def _rate_per_s(starts: list[float], interval_s: float) -> float:
    """Requests per second over the time they occupy: n requests from the first start to one group
    interval after the last (the steady-state rate, without the start-up edge)."""
    return len(starts) / (starts[-1] - starts[0] + interval_s)


async def test_three_engines_share_one_hosts_rate(origin_farm: Farm, tmp_path: Path) -> None:
    async with asyncio.TaskGroup() as group:
        runs = [group.create_task(_engine_run(origin_farm, tmp_path, f"e{i}", 1, 3)) for i in range(3)]
    assert all(outcome.ok for run in runs for outcome in run.result())
    stats = origin_farm.stats.host("polite")
    assert len(stats.starts_s) == 3 * PER_ENGINE
    rate = _rate_per_s(sorted(stats.starts_s), INTERVAL_S)
    assert abs(rate - 1 / INTERVAL_S) <= 0.1 / INTERVAL_S, (
        f"group rate {rate:.2f}/s, configured {1 / INTERVAL_S}/s"
    )
    assert stats.max_open <= 3


async def test_without_shares_three_engines_triple_the_rate(origin_farm: Farm, tmp_path: Path) -> None:
    """The control: each engine alone at the full rate, as before the group share."""
    async with asyncio.TaskGroup() as group:
        runs = [group.create_task(_engine_run(origin_farm, tmp_path, f"f{i}", 1, 1)) for i in range(3)]
    assert all(outcome.ok for run in runs for outcome in run.result())
    rate = _rate_per_s(sorted(origin_farm.stats.host("polite").starts_s), INTERVAL_S)
    assert rate > 2 / INTERVAL_S
