"""A job's robots.txt fetches and DNS lookups are paid from its request budget (issue 11, item 4).

The most hostile job the schema admits: the maximum number of distinct hosts, every one a fresh origin
(its own lookup, robots.txt fetch and connection), every download a 404. Names resolve through an
injected resolver to the farm's `pdfs` host on loopback.
"""

from __future__ import annotations

from pathlib import Path

from consumer.fetch import Engine
from consumer.fetch.run import NETWORK_OPS_PER_HOP
from consumer.storage import Store
from originfarm import Farm
from originfarm.hosts import HOSTS
from schemas import Status, Tier
from schemas.messages import MAX_CANDIDATE_HOSTS
from tests.integration.farm_fixtures import engine_settings, make_job, origin_farm

__all__ = ["origin_farm"]


async def test_distinct_hosts_stop_at_the_job_budget(origin_farm: Farm, tmp_path: Path) -> None:
    asked: list[str] = []

    async def resolve(host: str) -> list[str]:
        asked.append(host)
        return [HOSTS["pdfs"]]

    settings = engine_settings(origin_farm, max_hops=10, retry_attempts=1, wayback_max_lookups=0)
    budget = settings.max_hops * NETWORK_OPS_PER_HOP
    urls = [f"http://h{i}.test:{origin_farm.port}/status/404/x.pdf" for i in range(MAX_CANDIDATE_HOSTS)]
    job = make_job(*[(Tier.OA_PDF, url) for url in urls])
    async with Engine(
        settings=settings, store=Store(tmp_path, max_bytes=settings.max_bytes), resolver=resolve
    ) as engine:
        outcome = await engine.fetch(job)
    seen = origin_farm.stats.host("pdfs").requests
    robots, downloads = seen["/robots.txt"], sum(n for path, n in seen.items() if path != "/robots.txt")
    assert outcome.status is Status.NOT_FOUND
    assert len(asked) + robots + downloads <= budget, (len(asked), robots, downloads)
    assert robots < MAX_CANDIDATE_HOSTS  # stopped before every host's robots.txt was fetched
    assert len(asked) + robots + downloads >= budget - NETWORK_OPS_PER_HOP  # the budget was the limit
    assert downloads == len(outcome.hops)
