"""Hostile origins of the farm (originfarm/hostile.py) through the real engine over loopback sockets.

Each must end the job with a clear status in bounded time, with every URL it records within the job
message's URL bound and every network operation paid from the job's budget. Names (`*.fanout.test`,
`robots-drip.test`) resolve to the farm's `hostile` host through the injected resolver. The rows of
docs/RELIABILITY.md "Hostile inputs" come from these cases.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from consumer.fetch import Engine, EngineSettings
from consumer.fetch.run import NETWORK_OPS_PER_HOP
from consumer.outcome import FetchOutcome
from consumer.storage import Store
from originfarm import HOSTS, Farm
from originfarm.hostile import DRIP_NAME, FANOUT_DOMAIN
from schemas import JobMessage, Status, Tier
from schemas.messages import MAX_CANDIDATE_HOSTS, MAX_URL_CHARS
from tests.integration.farm_fixtures import engine_settings, make_job, origin_farm

__all__ = ["origin_farm"]
pytestmark = [pytest.mark.faults, pytest.mark.ci]

# Generous: every case ends in well under a second on loopback, except the robots.txt drip (1.5 s cap).
CASE_LIMIT_S = 10.0


class Lookups:
    """The injected resolver: every name is the hostile host; the names asked are kept."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        return [HOSTS["hostile"]]


async def _fetch(
    settings: EngineSettings, job: JobMessage, tmp_path: Path, lookups: Lookups
) -> tuple[FetchOutcome, float]:
    started = time.monotonic()
    store = Store(tmp_path, max_bytes=settings.max_bytes)
    async with Engine(settings=settings, store=store, resolver=lookups) as engine:
        outcome = await engine.fetch(job)
    elapsed_s = time.monotonic() - started
    assert elapsed_s < CASE_LIMIT_S
    assert all(len(hop.url) <= MAX_URL_CHARS for hop in outcome.hops)
    return outcome, elapsed_s


@pytest.mark.parametrize(
    ("pad_bytes", "hops", "status"),
    [
        (7_000, 3, Status.SUCCESS),  # long but legal Locations: followed
        (7_000, 12, Status.TOO_MANY_HOPS),  # max_redirects holds
        (9_000, 3, Status.INVALID_URL),  # past MAX_URL_CHARS: refused, not followed
        (65_536, 3, Status.TERMINAL_BAD_STATUS),  # past the head parser's 16 KiB per header line
        (1_048_576, 3, Status.TERMINAL_BAD_STATUS),  # a 1 MiB head: the same, read no further
    ],
)
async def test_redirects_with_huge_location_headers(
    origin_farm: Farm, tmp_path: Path, pad_bytes: int, hops: int, status: Status
) -> None:
    job = make_job((Tier.OA_PDF, origin_farm.url("hostile", f"/huge-location/{pad_bytes}/{hops}/a.pdf")))
    settings = engine_settings(origin_farm, retry_attempts=1, wayback_max_lookups=0)
    outcome, _ = await _fetch(settings, job, tmp_path, Lookups())
    assert outcome.status is status, outcome


async def test_redirect_fanout_pays_a_lookup_and_robots_per_new_origin(
    origin_farm: Farm, tmp_path: Path
) -> None:
    lookups = Lookups()
    settings = engine_settings(origin_farm, wayback_max_lookups=0)
    job = make_job((Tier.OA_PDF, f"http://f0.{FANOUT_DOMAIN}:{origin_farm.port}/fanout/0/a.pdf"))
    outcome, _ = await _fetch(settings, job, tmp_path, lookups)
    assert outcome.status is Status.TOO_MANY_HOPS
    robots = origin_farm.stats.host("hostile").requests["/robots.txt"]
    assert robots == len(lookups.asked) == settings.max_redirects + 1  # one per origin visited


async def test_robots_amplification_stops_at_the_job_budget(origin_farm: Farm, tmp_path: Path) -> None:
    """The widest job the schema admits: every candidate a new origin, each robots.txt a fetch."""
    lookups = Lookups()
    settings = engine_settings(origin_farm, max_hops=8, retry_attempts=1, wayback_max_lookups=0)
    port = origin_farm.port
    urls = [f"http://h{i}.{FANOUT_DOMAIN}:{port}/no-such/{i}" for i in range(MAX_CANDIDATE_HOSTS)]
    outcome, _ = await _fetch(settings, make_job(*[(Tier.OA_PDF, u) for u in urls]), tmp_path, lookups)
    seen = origin_farm.stats.host("hostile").requests
    operations = len(lookups.asked) + sum(seen.values())
    assert outcome.status is Status.NOT_FOUND
    assert operations <= settings.max_hops * NETWORK_OPS_PER_HOP < 3 * MAX_CANDIDATE_HOSTS


async def test_dribbling_robots_txt_is_cut_at_its_time_cap(origin_farm: Farm, tmp_path: Path) -> None:
    settings = engine_settings(origin_farm, wayback_max_lookups=0)
    job = make_job((Tier.OA_PDF, f"http://{DRIP_NAME}:{origin_farm.port}/robots-drip/a.pdf"))
    outcome, elapsed_s = await _fetch(settings, job, tmp_path, Lookups())
    assert outcome.status is Status.TIMEOUT and "robots.txt" in (outcome.detail or "")
    assert elapsed_s < settings.job_deadline_s  # the robots.txt cap, not the job deadline, ended it
