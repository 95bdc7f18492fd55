"""Politeness measured on the farm, not assumed: intervals, concurrency caps, robots, Retry-After, breaker."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

from consumer.fetch import Engine, EngineSettings
from consumer.outcome import FetchOutcome
from consumer.storage import Store
from originfarm import HOSTS, Farm
from schemas import Status, Tier
from tests.integration.farm_fixtures import engine_settings, make_job, origin_farm

__all__ = ["origin_farm"]


async def _fetch_all(settings: EngineSettings, root: Path, urls: list[str]) -> list[FetchOutcome]:
    store = Store(root, max_bytes=settings.max_bytes)
    async with Engine(settings=settings, store=store) as engine, asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(engine.fetch(make_job((Tier.OA_PDF, url)))) for url in urls]
    return [task.result() for task in tasks]


def _content_gaps_s(farm: Farm, host: str) -> float:
    """Smallest gap between two request starts to `host` (robots.txt included)."""
    return _min_gap_s(farm.stats.host(host).starts_s)


def _min_gap_s(starts: list[float]) -> float:
    return min(b - a for a, b in itertools.pairwise(starts))


async def test_min_interval_200ms_is_never_undercut(origin_farm: Farm, tmp_path: Path) -> None:
    settings = engine_settings(origin_farm, host_min_interval_s=0.2, host_concurrency=4)
    urls = [origin_farm.url("polite", f"/pdf/5000/{i}.pdf") for i in range(6)]
    outcomes = await _fetch_all(settings, tmp_path, urls)
    assert all(o.ok for o in outcomes)
    assert origin_farm.stats.total("polite") == 7  # robots.txt once, then six PDFs
    assert _content_gaps_s(origin_farm, "polite") >= 0.2


async def test_concurrency_cap_2_never_exceeded(origin_farm: Farm, tmp_path: Path) -> None:
    settings = engine_settings(origin_farm, host_concurrency=2, read_timeout_s=2.0)
    urls = [origin_farm.url("pdfs", f"/slow/c{i}.pdf") for i in range(6)]
    outcomes = await _fetch_all(settings, tmp_path, urls)
    assert all(o.ok for o in outcomes)
    assert origin_farm.stats.host("pdfs").max_open == 2  # reached, never passed


async def test_robots_disallow_sends_nothing_to_the_path(origin_farm: Farm, tmp_path: Path) -> None:
    urls = [origin_farm.url("strict", f"/private/p{i}.pdf") for i in range(3)]
    outcomes = await _fetch_all(engine_settings(origin_farm), tmp_path, urls)
    assert {o.status for o in outcomes} == {Status.ROBOTS_DISALLOWED}
    assert origin_farm.stats.host("strict").requests == {"/robots.txt": 1}


async def test_crawl_delay_is_honoured(origin_farm: Farm, tmp_path: Path) -> None:
    urls = [origin_farm.url("strict", f"/public/q{i}.pdf") for i in range(3)]
    outcomes = await _fetch_all(engine_settings(origin_farm, host_concurrency=3), tmp_path, urls)
    assert all(o.ok for o in outcomes)
    starts = origin_farm.stats.host("strict").starts_s[1:]  # after robots.txt, Crawl-delay 0.3 s applies
    assert _min_gap_s(starts) >= 0.3


async def test_host_override_file(origin_farm: Farm, tmp_path: Path) -> None:
    overrides = tmp_path / "hosts.json"
    overrides.write_text(json.dumps({HOSTS["polite"]: {"concurrency": 1, "min_interval_s": 0.3}}))
    settings = engine_settings(origin_farm, host_overrides_path=overrides, host_concurrency=8)
    urls = [origin_farm.url("polite", f"/pdf/5000/o{i}.pdf") for i in range(4)]
    outcomes = await _fetch_all(settings, tmp_path / "store", urls)
    assert all(o.ok for o in outcomes)
    assert _content_gaps_s(origin_farm, "polite") >= 0.3
    assert origin_farm.stats.host("polite").max_open == 1


async def test_retry_after_is_honoured(origin_farm: Farm, tmp_path: Path) -> None:
    settings = engine_settings(origin_farm, retry_after_cap_s=2.0, retry_attempts=2)
    [outcome] = await _fetch_all(settings, tmp_path, [origin_farm.url("pdfs", "/status/429/r.pdf")])
    assert outcome.status is Status.RATE_LIMITED and outcome.status.retryable
    starts = origin_farm.stats.host("pdfs").starts_s[1:]  # the two 429 tries after robots.txt
    assert len(starts) == 2 and starts[1] - starts[0] >= 1.0  # the farm sends Retry-After: 1


async def test_circuit_breaker_stops_hammering_a_failing_host(origin_farm: Farm, tmp_path: Path) -> None:
    settings = engine_settings(origin_farm, breaker_failures=3, retry_attempts=3, wayback_max_lookups=0)
    urls = [origin_farm.url("pdfs", f"/status/500/b{i}.pdf") for i in range(4)]
    async with Engine(settings=settings, store=Store(tmp_path, max_bytes=1 << 20)) as engine:
        outcomes = [await engine.fetch(make_job((Tier.OA_PDF, url))) for url in urls]
    assert [o.status for o in outcomes] == [Status.REMOTE_SERVER_ERROR] * 4
    assert origin_farm.stats.total("pdfs") == 1 + 3  # robots.txt, one job's three tries, then open
    assert outcomes[-1].detail is not None and "circuit open" in outcomes[-1].detail


async def test_open_circuit_is_waited_out_when_the_job_deadline_allows(
    origin_farm: Farm, tmp_path: Path
) -> None:
    settings = engine_settings(
        origin_farm, breaker_failures=3, retry_attempts=3, wayback_max_lookups=0, breaker_cooldown_s=0.5
    )
    failing = origin_farm.url("pdfs", "/status/500/c.pdf")
    good = origin_farm.url("pdfs", "/pdf/20000/after-cooldown.pdf")
    async with Engine(settings=settings, store=Store(tmp_path, max_bytes=1 << 20)) as engine:
        first = await engine.fetch(make_job((Tier.OA_PDF, failing)))
        second = await engine.fetch(make_job((Tier.OA_PDF, good)))
    assert first.status is Status.REMOTE_SERVER_ERROR
    assert second.status is Status.SUCCESS, second.detail  # waited 0.5 s for the circuit instead of failing
