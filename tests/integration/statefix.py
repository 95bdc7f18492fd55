"""Test helpers: write state records and job messages with plain producers (no consumer needed)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer

from schemas import Candidate, JobMessage, KafkaSettings, State, StateRecord, Status, Tier, encode, job_id


def job(work: str, *, attempt: int = 0) -> JobMessage:
    return JobMessage(
        job_id=job_id(work_id=work, url=None),
        work_id=work,
        candidates=(Candidate(url=f"https://example.org/{work}.pdf", tier=Tier.OA_PDF),),
        source="openalex",
        seeded_at_ms=1_000,
        attempt=attempt,
    )


def record(
    work: str,
    state: State,
    *,
    status: Status | None = None,
    attempt: int = 0,
    ts_ms: int = 2_000,
) -> StateRecord:
    final = state is State.FINALIZED
    return StateRecord(
        job_id=job_id(work_id=work, url=None),
        work_id=work,
        state=state,
        status=Status.SUCCESS if final else status,
        attempt=attempt,
        owner="test",
        epoch=1,
        source_partition=0,
        source_offset=0,
        ts_ms=ts_ms,
        sha256=hashlib.sha256(work.encode()).hexdigest() if final else None,
        size=10 if final else None,
    )


async def publish(
    settings: KafkaSettings, topic: str, messages: Iterable[JobMessage | StateRecord | bytes]
) -> None:
    """Send each message keyed by its job id (raw bytes go with the key b"raw")."""
    producer = AIOKafkaProducer(**settings.client_options(), acks="all")
    await producer.start()
    try:
        for msg in messages:
            if isinstance(msg, bytes):
                await producer.send_and_wait(topic, msg, key=b"raw")
            else:
                await producer.send_and_wait(topic, encode(msg), key=msg.job_id.encode())
    finally:
        await producer.stop()
