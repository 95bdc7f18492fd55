"""The scenario table through the real consumer runtime and Kafka: seeded jobs, the Engine as the
fetcher, FINALIZED/FAILED records with the expected status, hops and sha256; the audit invariants hold."""

from __future__ import annotations

import asyncio
from pathlib import Path

from consumer.app import run
from consumer.fetch import Engine
from consumer.metrics import Metrics
from consumer.settings import ConsumerSettings
from consumer.storage import Store
from originfarm import Farm, make_pdf
from producer.commands.audit import read_topics
from schemas import JobMessage, State, Status
from tests.conftest import MakeTopics
from tests.integration.consumer_harness import check_invariants, seed
from tests.integration.farm_fixtures import engine_settings, make_job, origin_farm
from tests.integration.test_engine_scenarios import CASES, NO_LOOKUP, Case

__all__ = ["origin_farm"]

# Cases needing their own engine settings stay in the in-process table; the rest share one consumer.
SHARED = [case for case in CASES if not case.settings]


async def test_scenarios_through_kafka(make_topics: MakeTopics, origin_farm: Farm, tmp_path: Path) -> None:
    kafka = await make_topics(partitions=3)
    cfg = ConsumerSettings(
        store=tmp_path / "store", concurrency=16, exit_when_idle_s=3,
        session_timeout_ms=6000, heartbeat_interval_ms=500,
    )  # fmt: skip
    # Many scenarios fail on purpose on the same hosts: keep the breaker out of the way of the others.
    settings = engine_settings(origin_farm, breaker_failures=10_000)
    jobs = {case.name: _job(origin_farm, case) for case in SHARED}
    await seed(kafka, jobs.values())

    store = Store(cfg.store, max_bytes=settings.max_bytes)

    def fetchers(metrics: Metrics) -> Engine:
        return Engine(settings=settings, store=store, observer=metrics)

    assert await asyncio.wait_for(run(kafka, cfg, fetchers, stop=asyncio.Event()), 120) == 0
    latest = (await read_topics(kafka)).state.latest
    for case in SHARED:
        record = latest[jobs[case.name].job_id]
        assert record.status is case.status, (case.name, record)
        lookup = () if record.status is Status.SUCCESS or case.status in NO_LOOKUP else (200,)
        assert tuple(hop.http_status for hop in record.hops) == case.hops + lookup, (case.name, record.hops)
        if case.status is Status.SUCCESS:
            assert record.state is State.FINALIZED and record.tier is case.tier and record.sha256
            stored = store.path_for(record.sha256).read_bytes()
            assert case.body is None or stored == make_pdf(*case.body)
        else:
            assert record.state is State.FAILED and record.sha256 is None
    result = await check_invariants(kafka, cfg.store)
    assert result.violations == []
    assert result.failed == sum(case.status is not Status.SUCCESS for case in SHARED)


def _job(farm: Farm, case: Case) -> JobMessage:
    return make_job(*((tier, farm.url(host, path) if host else path) for tier, host, path in case.candidates))
