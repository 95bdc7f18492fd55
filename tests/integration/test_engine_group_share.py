"""Politeness for the whole consumer group (issue 12 item 7): three engines, each owning 1 of 3
partitions, against one loopback origin host: the aggregate request rate stays within 10 % of the
configured per-host rate, and the host never sees more requests at once than the configured concurrency."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from consumer.fetch import Engine
from consumer.outcome import GroupShared
from consumer.storage import Store
from originfarm import Farm
from schemas import Tier
from tests.integration.farm_fixtures import engine_settings, make_job, origin_farm

__all__ = ["origin_farm"]

INTERVAL_S = 0.2  # the group's per-host rate: 5 requests/s
PER_ENGINE = 7  # requests each engine makes (robots.txt included): ~4 s of traffic


class _Answers:
    """A FetchObserver noting when each of one engine's requests was answered (robots.txt included)."""

    def __init__(self) -> None:
        self.at_s: list[float] = []

    def http_request(self, tier: Tier, code_class: str) -> None:
        self.at_s.append(time.monotonic())

    def bytes_downloaded(self, count: int) -> None:
        return None

    def rate_per_s(self) -> float:
        """Mean request rate of this engine: its requests follow one another, so (n - 1) / span."""
        return (len(self.at_s) - 1) / (self.at_s[-1] - self.at_s[0])


async def _engine_run(farm: Farm, root: Path, name: str, share: tuple[int, int]) -> _Answers:
    settings = engine_settings(farm, host_min_interval_s=INTERVAL_S, host_concurrency=3, job_deadline_s=60.0)
    store = Store(root / name, max_bytes=settings.max_bytes)
    answers = _Answers()
    urls = [farm.url("polite", f"/pdf/5000/{name}-{i}.pdf") for i in range(PER_ENGINE - 1)]
    async with (
        Engine(settings=settings, store=store, observer=answers) as engine,
        asyncio.TaskGroup() as group,
    ):
        assert isinstance(engine, GroupShared)
        engine.set_group_share(*share)
        tasks = [group.create_task(engine.fetch(make_job((Tier.OA_PDF, url)))) for url in urls]
    assert all(task.result().ok for task in tasks)
    return answers


async def _group_rate_per_s(farm: Farm, root: Path, share: tuple[int, int]) -> float:
    """The group's aggregate rate to the host: the sum of its three engines' rates."""
    async with asyncio.TaskGroup() as group:
        runs = [group.create_task(_engine_run(farm, root, f"e{i}", share)) for i in range(3)]
    assert farm.stats.total("polite") == 3 * PER_ENGINE  # every request seen by the origin is counted
    return sum(run.result().rate_per_s() for run in runs)


async def test_three_engines_share_one_hosts_rate(origin_farm: Farm, tmp_path: Path) -> None:
    rate = await _group_rate_per_s(origin_farm, tmp_path, (1, 3))
    assert abs(rate - 1 / INTERVAL_S) <= 0.1 / INTERVAL_S, (
        f"group rate {rate:.2f}/s, configured {1 / INTERVAL_S}/s"
    )
    assert origin_farm.stats.host("polite").max_open <= 3


async def test_without_shares_three_engines_triple_the_rate(origin_farm: Farm, tmp_path: Path) -> None:
    """The control: each engine alone at the full rate, as before the group share."""
    assert await _group_rate_per_s(origin_farm, tmp_path, (1, 1)) > 2 / INTERVAL_S
