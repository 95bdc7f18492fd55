"""Shared plumbing for benchmarks: a broker, fresh topics, pre-seeded job messages."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

from producer.commands import topics
from schemas import Candidate, JobMessage, KafkaSettings, Tier, encode, job_id_for_work

REPO = Path(__file__).resolve().parents[1]


def bootstrap_servers() -> str:
    """KAFKA_BOOTSTRAP_SERVERS, else the (reused or started) scripts/kafka-local broker."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    out = subprocess.run(
        [REPO / "scripts" / "kafka-local", "start"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"^KAFKA_BOOTSTRAP_SERVERS=(\S+)$", out, re.M)
    assert match, out
    return match.group(1)


async def fresh_topics(bootstrap: str, prefix: str, partitions: int) -> KafkaSettings:
    settings = KafkaSettings(
        bootstrap_servers=bootstrap,
        jobs_topic=f"{prefix}.jobs",
        state_topic=f"{prefix}.state",
        dlq_topic=f"{prefix}.dlq",
        group_id=f"{prefix}-g",
    )
    await topics.ensure(settings, partitions=partitions, replication=1)
    return settings


def job(index: int, url: str) -> JobMessage:
    work = f"W{index:09d}"
    return JobMessage(
        job_id=job_id_for_work(work),
        work_id=work,
        source="bench",
        candidates=(Candidate(url=url, tier=Tier.OA_PDF),),
        seeded_at_ms=int(time.time() * 1000),
    )


async def preload(settings: KafkaSettings, count: int, url_for: object = None) -> list[JobMessage]:
    """Seed `count` job messages (keyed by job id); url_for(i) gives each job's URL."""
    make_url = url_for or (lambda i: f"http://127.0.0.1:9/{i}.pdf")
    jobs = [job(i, make_url(i)) for i in range(count)]  # type: ignore[operator]
    producer = AIOKafkaProducer(
        **settings.client_options(),
        enable_idempotence=True,
        acks="all",
        linger_ms=20,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        for item in jobs:
            await producer.send(settings.jobs_topic, encode(item), key=item.job_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return jobs
