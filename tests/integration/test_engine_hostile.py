"""Pages through the real Engine over loopback. Hostile ones (issue 11 item 3): the event loop keeps
ticking while a 2 MiB hostile page is parsed, and each job ends in bounded time with a clear status.
Issue 12: a failing web archive never overwrites the primary failure; the landing hop names the rule
that found the link."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from consumer.fetch import Engine
from consumer.storage import Store
from originfarm import Farm
from schemas import Status, Tier
from tests.integration.farm_fixtures import engine_settings, make_job, origin_farm

__all__ = ["origin_farm"]

# Gaps of a 1 ms ticker: a parse on the loop shows as one gap as long as the parse (seconds before the
# fix). The bound is generous for a loaded 2-core machine, yet far below any blocking parse.
MAX_LOOP_GAP_S = 0.25


async def _max_gap_while(work: asyncio.Future[object] | asyncio.Task[object]) -> float:
    gap, last = 0.0, time.perf_counter()
    while not work.done():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        gap, last = max(gap, now - last), now
    return gap


@pytest.mark.parametrize("kind", ["hostile-refresh", "hostile-nesting"])
async def test_hostile_page_never_stalls_the_loop(kind: str, origin_farm: Farm, tmp_path: Path) -> None:
    settings = engine_settings(origin_farm, job_deadline_s=30.0, wayback_max_lookups=0)
    job = make_job((Tier.OA_PDF, origin_farm.url("pdfs", f"/{kind}/h")))
    async with Engine(settings=settings, store=Store(tmp_path, max_bytes=settings.max_bytes)) as engine:
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            fetching = group.create_task(engine.fetch(job))
            gap_s = await _max_gap_while(fetching)
    outcome = fetching.result()
    assert outcome.status is Status.WRONG_MIMETYPE, outcome
    assert gap_s < MAX_LOOP_GAP_S, f"event loop stalled {gap_s:.3f}s"
    assert time.perf_counter() - started < 10.0


# Nothing listens on port 1: every archive lookup fails to connect.
DEAD_ARCHIVE = "http://127.0.0.15:1/wayback/available"


@pytest.mark.parametrize(
    ("tier", "host", "path", "status"),
    [
        (Tier.DOI, "doi", "/10.5555/gone.a1", Status.NOT_FOUND),
        (Tier.LANDING, "publisher", "/article/none/a2", Status.NO_PDF_LINK),
        (Tier.OA_PDF, "pdfs", "/status/403/a3.pdf", Status.FORBIDDEN),
    ],
)
async def test_a_failing_archive_never_overwrites_the_primary_failure(
    tier: Tier, host: str, path: str, status: Status, origin_farm: Farm, tmp_path: Path
) -> None:
    settings = engine_settings(origin_farm, wayback_availability_url=DEAD_ARCHIVE, retry_attempts=1)
    job = make_job((tier, origin_farm.url(host, path)))
    async with Engine(settings=settings, store=Store(tmp_path, max_bytes=settings.max_bytes)) as engine:
        outcome = await engine.fetch(job)
    assert outcome.status is status, outcome
    archive_hops = [hop for hop in outcome.hops if hop.tier is Tier.ARCHIVE]
    assert len(archive_hops) == 1 and "archive failed: connect-error" in (archive_hops[0].note or "")


@pytest.mark.parametrize(
    ("variant", "rule"),
    [
        ("citation_pdf_url", "meta:citation_pdf_url"),
        ("link-alternate", "link:alternate"),
        ("heuristic", "heuristic:download-link"),
        ("meta-refresh", "meta:refresh"),
        ("cookie-banner", "meta:citation_pdf_url"),
    ],
)
async def test_the_landing_hop_says_which_rule_found_the_link(
    variant: str, rule: str, origin_farm: Farm, tmp_path: Path
) -> None:
    settings = engine_settings(origin_farm)
    job = make_job((Tier.LANDING, origin_farm.url("publisher", f"/article/{variant}/r1")))
    async with Engine(settings=settings, store=Store(tmp_path, max_bytes=settings.max_bytes)) as engine:
        outcome = await engine.fetch(job)
    assert outcome.ok, outcome
    assert outcome.hops[0].note == f"followed {rule}"
