"""A job's `wanted` type honoured end to end (issue 12 item 5): XML jobs store JATS XML and never a PDF,
HTML jobs store the article page, PDF jobs are unchanged. Real Engine, origin farm over loopback."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from consumer.fetch import Engine
from consumer.outcome import FetchOutcome
from consumer.storage import Store
from originfarm import Farm
from originfarm.pages import jats_xml
from schemas import JobMessage, Status, Tier, Wanted
from tests.integration.farm_fixtures import engine_settings, make_job, origin_farm

__all__ = ["origin_farm"]


async def _fetch(farm: Farm, tmp_path: Path, job: JobMessage) -> tuple[FetchOutcome, Store]:
    settings = engine_settings(farm, wayback_max_lookups=0)
    store = Store(tmp_path, max_bytes=settings.max_bytes)
    async with Engine(settings=settings, store=store) as engine:
        return await engine.fetch(job), store


def _wanting(job: JobMessage, wanted: Wanted) -> JobMessage:
    return job.model_copy(update={"wanted": wanted})


@pytest.mark.parametrize(
    ("tier", "host", "path"),
    [
        (Tier.LANDING, "publisher", "/article/formats/x1"),  # citation_xml_url on the landing page
        (Tier.OA_PDF, "publisher", "/files/x1.xml"),  # a direct XML candidate
    ],
)
async def test_an_xml_job_stores_xml(
    tier: Tier, host: str, path: str, origin_farm: Farm, tmp_path: Path
) -> None:
    job = _wanting(make_job((tier, origin_farm.url(host, path))), Wanted.XML)
    outcome, _ = await _fetch(origin_farm, tmp_path, job)
    assert outcome.status is Status.SUCCESS, outcome
    assert outcome.finalized.mimetype == "application/xml"
    assert outcome.finalized.sha256 == hashlib.sha256(jats_xml("x1.xml")).hexdigest()


async def test_an_xml_job_never_stores_a_pdf(origin_farm: Farm, tmp_path: Path) -> None:
    job = _wanting(make_job((Tier.OA_PDF, origin_farm.url("pdfs", "/pdf/20000/p"))), Wanted.XML)
    outcome, _ = await _fetch(origin_farm, tmp_path, job)
    assert outcome.status is Status.WRONG_MIMETYPE and outcome.finalized is None


async def test_a_pdf_job_on_the_same_page_gets_the_pdf(origin_farm: Farm, tmp_path: Path) -> None:
    job = make_job((Tier.LANDING, origin_farm.url("publisher", "/article/formats/x2")))
    outcome, _ = await _fetch(origin_farm, tmp_path, job)
    assert outcome.status is Status.SUCCESS and outcome.finalized.mimetype == "application/pdf"


async def test_an_html_job_stores_the_article_page(origin_farm: Farm, tmp_path: Path) -> None:
    url = origin_farm.url("publisher", "/article/none/h1")
    job = _wanting(
        make_job((Tier.LANDING, url), (Tier.OA_PDF, origin_farm.url("pdfs", "/pdf/20000/h.pdf"))), Wanted.HTML
    )
    outcome, _ = await _fetch(origin_farm, tmp_path, job)
    assert outcome.status is Status.SUCCESS and outcome.finalized.mimetype == "text/html"
    assert [hop.url for hop in outcome.hops] == [url]  # the .pdf candidate is skipped
