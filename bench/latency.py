"""Latency at low load: seed one job every INTERVAL_S and time until its FINALIZED is visible to a
read_committed reader of the state topic (one consumer process running, warmed up by one job first).

    .venv/bin/python -m bench.latency --jobs 200 --interval-s 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.common import bootstrap_servers, fresh_topics, job
from bench.farm import CONCURRENCY, ENGINE_ENV, pdf_url, running_farm
from schemas import KafkaSettings, encode
from tests.faults.harness.process import ConsumerOptions, ProcessPool

PARTITIONS = 12


class Visible:
    """job id -> when its FINALIZED became visible; `changed` is set on every new one."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.changed = asyncio.Event()

    def add(self, job_id: str, now: float) -> None:
        self.at.setdefault(job_id, now)
        self.changed.set()

    async def wait_for(self, job_ids: set[str], timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while not job_ids <= self.at.keys():
                self.changed.clear()
                await self.changed.wait()


async def tail_finalized(settings: KafkaSettings, seen: Visible, ready: asyncio.Event) -> None:
    """Record when each FINALIZED becomes visible (read_committed), from the current end onwards."""
    parts = [TopicPartition(settings.state_topic, p) for p in range(PARTITIONS)]
    reader = AIOKafkaConsumer(**settings.client_options(), isolation_level="read_committed")
    await reader.start()
    try:
        reader.assign(parts)
        await reader.seek_to_end(*parts)
        ready.set()
        while True:
            for records in (await reader.getmany(timeout_ms=20)).values():
                now = time.perf_counter()
                for r in records:
                    obj = orjson.loads(r.value)
                    if obj["state"] == "FINALIZED":
                        seen.add(obj["job_id"], now)
    finally:
        await reader.stop()


async def seed_paced(
    settings: KafkaSettings, bases: dict[str, str], seen: Visible, *, jobs: int, interval_s: float
) -> list[float]:
    """Warm up with one job, then seed `jobs` at `interval_s`; latencies in seconds."""
    producer = AIOKafkaProducer(**settings.client_options(), enable_idempotence=True)
    await producer.start()
    try:

        async def send(i: int) -> tuple[str, float]:
            item = job(i, pdf_url(bases, i, "lat"))
            sent = time.perf_counter()
            await producer.send_and_wait(settings.jobs_topic, encode(item), key=item.job_id.encode())
            return item.job_id, sent

        warm, _ = await send(jobs)
        await seen.wait_for({warm}, timeout_s=60)
        sent: dict[str, float] = {}
        for i in range(jobs):
            job_id, at = await send(i)
            sent[job_id] = at
            await asyncio.sleep(max(0.0, at + interval_s - time.perf_counter()))
        with contextlib.suppress(TimeoutError):
            await seen.wait_for(set(sent), timeout_s=60)
        return [seen.at[j] - t for j, t in sent.items() if j in seen.at]
    finally:
        await producer.stop()


async def latencies(bases: dict[str, str], jobs: int, interval_s: float) -> list[float]:
    settings = await fresh_topics(bootstrap_servers(), f"bench-lat-{time.time_ns() % 10**6}", PARTITIONS)
    seen = Visible()
    with tempfile.TemporaryDirectory(prefix="bench-lat-") as root:
        options = ConsumerOptions(
            settings=settings, store=Path(root) / "store", concurrency=CONCURRENCY, env=ENGINE_ENV
        )
        async with ProcessPool(Path(root) / "logs") as pool, asyncio.TaskGroup() as tg:
            pool.consumer("c0", options)
            ready = asyncio.Event()
            tailing = tg.create_task(tail_finalized(settings, seen, ready))
            await ready.wait()
            result = await seed_paced(settings, bases, seen, jobs=jobs, interval_s=interval_s)
            tailing.cancel()
    if len(result) != jobs:
        raise RuntimeError(f"{len(result)} of {jobs} jobs FINALIZED within 60 s")
    return result


def percentiles(values: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--interval-s", type=float, default=0.1)
    args = parser.parse_args()
    with running_farm() as bases:
        p50, p99 = percentiles(asyncio.run(latencies(bases, args.jobs, args.interval_s)))
    print(f"seed -> FINALIZED visible: p50 {p50:.0f} ms, p99 {p99:.0f} ms")


if __name__ == "__main__":
    main()
