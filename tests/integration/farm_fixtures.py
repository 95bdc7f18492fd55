"""Origin-farm fixtures: a fresh farm per test (own port, zeroed counters), real sockets on 127.0.0.x.

Use from a test module with `from tests.integration.farm_fixtures import origin_farm  # noqa: F401`, or
register for every test with `pytest_plugins = ["tests.integration.farm_fixtures"]` in tests/conftest.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from consumer.fetch import EngineSettings
from originfarm import Farm
from schemas import Candidate, JobMessage, Tier


@pytest.fixture
async def origin_farm() -> AsyncIterator[Farm]:
    """A running farm; build URLs with `origin_farm.url("pdfs", "/pdf/20000/a.pdf")`."""
    async with Farm(port=0) as farm:
        yield farm


def engine_settings(farm: Farm, **overrides: object) -> EngineSettings:
    """Engine settings pointed at the farm (resolver, Wayback), loopback allowed, fast test timings."""
    values: dict[str, object] = {
        "doi_resolver": farm.url("doi", "/"),
        "wayback_availability_url": farm.url("archive", "/wayback/available"),
        "allow_private_hosts": True,
        "host_min_interval_s": 0.0,
        "retry_backoff_s": 0.02,
        "retry_after_cap_s": 0.5,
        "read_timeout_s": 0.5,
        "http_connect_timeout_s": 1.0,
        "job_deadline_s": 10.0,
        "crawl_delay_cap_s": 1.0,
    }
    values.update(overrides)
    return EngineSettings.model_validate(values)


def make_job(*candidates: tuple[Tier, str], doi: str | None = None) -> JobMessage:
    """A job with these (tier, url) candidates; the id is derived from them."""
    key = "|".join(url for _, url in candidates) + (doi or "")
    return JobMessage(
        job_id=hashlib.sha256(key.encode()).hexdigest(),
        work_id=None,
        doi=doi,
        candidates=tuple(Candidate(url=url, tier=tier) for tier, url in candidates),
        source="farm-test",
        seeded_at_ms=0,
    )
