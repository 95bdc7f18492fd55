"""Issue 12 end to end through the real consumer runtime and Kafka: a landing page with a cookie banner and
citation_pdf_url ends FINALIZED, a 404 DOI ends `not-found` even with the web archive unreachable, and a
job wanting XML stores the JATS XML."""

from __future__ import annotations

import asyncio
from pathlib import Path

from consumer.app import run
from consumer.fetch import Engine
from consumer.metrics import Metrics
from consumer.settings import ConsumerSettings
from consumer.storage import Store
from originfarm import Farm
from originfarm.pages import jats_xml
from producer.commands.audit import read_topics
from schemas import State, Status, Tier, Wanted
from tests.conftest import MakeTopics
from tests.integration.consumer_harness import check_invariants, seed
from tests.integration.farm_fixtures import engine_settings, make_job, origin_farm

__all__ = ["origin_farm"]

DEAD_ARCHIVE = "http://127.0.0.15:1/wayback/available"  # nothing listens on port 1


async def test_harvest_statuses_through_kafka(
    make_topics: MakeTopics, origin_farm: Farm, tmp_path: Path
) -> None:
    kafka = await make_topics(partitions=2)
    cfg = ConsumerSettings(
        store=tmp_path / "store", concurrency=4, exit_when_idle_s=3,
        session_timeout_ms=6000, heartbeat_interval_ms=500,
    )  # fmt: skip
    settings = engine_settings(
        origin_farm, wayback_availability_url=DEAD_ARCHIVE, retry_attempts=1, job_deadline_s=60.0
    )
    banner = make_job((Tier.DOI, origin_farm.url("doi", "/10.5555/cookie-banner.e1")))
    gone = make_job((Tier.DOI, origin_farm.url("doi", "/10.5555/gone.e2")))
    xml = make_job((Tier.LANDING, origin_farm.url("publisher", "/article/formats/e3")))
    xml = xml.model_copy(update={"wanted": Wanted.XML})
    await seed(kafka, [banner, gone, xml])
    store = Store(cfg.store, max_bytes=settings.max_bytes)

    def fetchers(metrics: Metrics) -> Engine:
        return Engine(settings=settings, store=store, observer=metrics)

    assert await asyncio.wait_for(run(kafka, cfg, fetchers, stop=asyncio.Event()), 120) == 0
    latest = (await read_topics(kafka)).state.latest
    assert latest[banner.job_id].state is State.FINALIZED and latest[banner.job_id].tier is Tier.LANDING
    assert latest[banner.job_id].mimetype == "application/pdf"
    assert latest[gone.job_id].state is State.FAILED and latest[gone.job_id].status is Status.NOT_FOUND
    assert [hop.tier for hop in latest[gone.job_id].hops] == [Tier.DOI, Tier.ARCHIVE]
    record = latest[xml.job_id]
    assert record.state is State.FINALIZED and record.mimetype == "application/xml" and record.sha256
    assert store.path_for(record.sha256).read_bytes() == jats_xml("e3.xml")
    assert (await check_invariants(kafka, cfg.store)).violations == []
