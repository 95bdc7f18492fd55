"""The consumer app in this process with an injected Fetcher: metrics, health, storage-error pause."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from consumer.app import run
from consumer.metrics import Metrics
from consumer.outcome import FetchOutcome
from consumer.settings import ConsumerSettings
from consumer.storage import Store
from schemas import JobMessage, KafkaSettings, Status
from tests.conftest import MakeTopics
from tests.faults.harness.waiting import poll_until
from tests.integration.consumer_harness import check_invariants, make_job, origin, seed
from tests.integration.minimal_fetcher import MinimalFetcher

PAUSE_S = 2.0


class FirstStoreFails:
    """Delegates to a real MinimalFetcher, except the first job reports a full store."""

    def __init__(self, inner: MinimalFetcher) -> None:
        self.inner, self.started_at = inner, []

    async def fetch(self, job: JobMessage) -> FetchOutcome:
        self.started_at.append(time.monotonic())
        if len(self.started_at) == 1:
            return FetchOutcome(status=Status.STORAGE_ERROR, detail="disk full (test)")
        return await self.inner.fetch(job)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


async def test_metrics_health_and_storage_pause(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=1)
    port = free_port()
    cfg = ConsumerSettings(
        store=tmp_path / "store", concurrency=1, metrics_port=port, exit_when_idle_s=3,
        storage_pause_s=PAUSE_S, session_timeout_ms=6000, heartbeat_interval_ms=500,
    )  # fmt: skip
    async with origin() as farm, httpx.AsyncClient(timeout=5, trust_env=False) as client:
        jobs = [make_job(farm.url(f"/pdf/m{i}"), work=f"M{i}") for i in range(6)]
        await seed(settings, jobs)
        fetcher: FirstStoreFails | None = None

        @contextlib.asynccontextmanager
        async def fetchers(metrics: Metrics) -> AsyncIterator[FirstStoreFails]:
            nonlocal fetcher
            async with httpx.AsyncClient(trust_env=False) as http:
                inner = MinimalFetcher(client=http, store=Store(cfg.store, max_bytes=10**6), observer=metrics)
                fetcher = FirstStoreFails(inner)
                yield fetcher

        app = asyncio.create_task(run(settings, cfg, fetchers, stop=asyncio.Event()))
        base = f"http://127.0.0.1:{port}"

        async def jobs_counted() -> str | None:
            try:
                text = (await client.get(f"{base}/metrics")).text
            except httpx.ConnectError:  # not listening yet: the app checks the topics first
                return None
            return text if sum(samples(text, "docfetch_jobs_total").values()) == 6 else None

        text = await poll_until(jobs_counted, timeout_s=60, interval_s=0.3, what="6 jobs counted")
        ready, healthy = await client.get(f"{base}/readyz"), await client.get(f"{base}/healthz")
        assert await asyncio.wait_for(app, 60) == 0
    jobs_total = samples(text, "docfetch_jobs_total")
    assert jobs_total[(("outcome", "failed"), ("status", "storage-error"))] == 1
    assert jobs_total[(("outcome", "finalized"), ("status", "success"))] == 5
    assert samples(text, "docfetch_http_requests_total") == {(("code_class", "2xx"), ("tier", "oa_pdf")): 5}
    assert ready.status_code == 200 and healthy.status_code == 200
    assert fetcher is not None and fetcher.started_at[1] - fetcher.started_at[0] >= PAUSE_S * 0.9
    result = await check_invariants(settings, cfg.store)
    assert result.violations == [] and result.failed == 1


class FirstJobHangs:
    """The first job never finishes (a wedged download); the others finish at once without I/O."""

    def __init__(self) -> None:
        self.calls = 0

    async def fetch(self, job: JobMessage) -> FetchOutcome:
        self.calls += 1
        if self.calls == 1:
            await asyncio.Event().wait()
        return FetchOutcome(status=Status.NOT_FOUND)


async def test_healthz_fails_when_a_partition_stalls(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=1)
    port = free_port()
    cfg = ConsumerSettings(
        store=tmp_path / "store", concurrency=4, metrics_port=port, stall_timeout_s=1.5, drain_timeout_s=0.5,
        session_timeout_ms=6000, heartbeat_interval_ms=500,
    )  # fmt: skip
    await seed(settings, [make_job(f"http://127.0.0.1:9/{i}", work=f"H{i}") for i in range(3)])

    @contextlib.asynccontextmanager
    async def fetchers(metrics: Metrics) -> AsyncIterator[FirstJobHangs]:
        yield FirstJobHangs()

    stop = asyncio.Event()
    app = asyncio.create_task(run(settings, cfg, fetchers, stop=stop))
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:

        async def unhealthy() -> httpx.Response | None:
            try:
                response = await client.get(f"http://127.0.0.1:{port}/healthz")
            except httpx.ConnectError:
                return None
            return response if response.status_code == 503 else None

        response = await poll_until(unhealthy, timeout_s=60, interval_s=0.3, what="/healthz 503")
    stop.set()
    assert await asyncio.wait_for(app, 30) == 0  # drains, abandons the wedged job, exits cleanly
    assert "partition 0 has lag" in response.text


class Instant:
    """Every job ends at once without I/O (the download itself is not what this test measures)."""

    async def fetch(self, job: JobMessage) -> FetchOutcome:
        return FetchOutcome(status=Status.NOT_FOUND)


async def state_offsets(settings: KafkaSettings) -> dict[str, list[int]]:
    """job id -> the state-topic offsets of its records (read_committed; control markers are skipped,
    so a gap between two offsets is a transaction boundary)."""
    tp = TopicPartition(settings.state_topic, 0)
    reader = AIOKafkaConsumer(**settings.client_options(), isolation_level="read_committed")
    await reader.start()
    try:
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        end = (await reader.end_offsets([tp]))[tp]
        found: dict[str, list[int]] = {}
        while await reader.position(tp) < end:
            for msg in (await reader.getmany(tp, timeout_ms=500)).get(tp, ()):
                found.setdefault(msg.key.decode(), []).append(msg.offset)
        return found
    finally:
        await reader.stop()


async def test_download_starts_before_its_planned_commits(make_topics: MakeTopics, tmp_path: Path) -> None:
    """A job does not wait for its PLANNED transaction: one done within a commit interval writes PLANNED
    and its terminal record in one transaction (before, PLANNED always committed alone first)."""
    settings = await make_topics(partitions=1)
    cfg = ConsumerSettings(
        store=tmp_path / "store", concurrency=8, metrics_port=0, exit_when_idle_s=2, commit_interval_s=1.0,
        session_timeout_ms=6000, heartbeat_interval_ms=500,
    )  # fmt: skip
    await seed(settings, [make_job(f"http://127.0.0.1:9/{i}", work=f"I{i}") for i in range(6)])

    @contextlib.asynccontextmanager
    async def fetchers(metrics: Metrics) -> AsyncIterator[Instant]:
        yield Instant()

    assert await asyncio.wait_for(run(settings, cfg, fetchers, stop=asyncio.Event()), 60) == 0
    per_job = await state_offsets(settings)
    seen = {offset for offsets in per_job.values() for offset in offsets}
    assert len(per_job) == 6 and all(len(offsets) == 2 for offsets in per_job.values()), per_job
    one_transaction = [
        job for job, (planned, final) in per_job.items() if set(range(planned, final + 1)) <= seen
    ]
    assert one_transaction, f"every PLANNED committed alone before its terminal record: {per_job}"
    result = await check_invariants(settings, cfg.store)
    assert result.violations == [] and result.failed == 6
