"""Read a whole state topic (read_committed) after a run: what a downstream reader sees."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import KafkaSettings


@dataclass(frozen=True)
class Seen:
    job_id: str
    state: str
    timestamp_ms: int  # the record's CreateTime, stamped by the consumer's producer


async def read_all(settings: KafkaSettings, partitions: int) -> list[Seen]:
    reader = AIOKafkaConsumer(
        **settings.client_options(),
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await reader.start()
    seen: list[Seen] = []
    try:
        parts = [TopicPartition(settings.state_topic, p) for p in range(partitions)]
        reader.assign(parts)
        await reader.seek_to_beginning(*parts)
        end = await reader.end_offsets(parts)
        while [tp for tp in parts if await reader.position(tp) < end[tp]]:
            for records in (await reader.getmany(timeout_ms=200, max_records=10_000)).values():
                for r in records:
                    obj = orjson.loads(r.value)
                    seen.append(Seen(obj["job_id"], obj["state"], r.timestamp))
    finally:
        await reader.stop()
    return seen


def finalized_rate(seen: list[Seen], expected: int) -> float:
    """Jobs/s from the first PLANNED to the last FINALIZED record; fails unless all `expected` finalized."""
    finals = {s.job_id for s in seen if s.state == "FINALIZED"}
    if len(finals) != expected:
        raise RuntimeError(f"{len(finals)} of {expected} jobs FINALIZED")
    first = min(s.timestamp_ms for s in seen if s.state == "PLANNED")
    last = max(s.timestamp_ms for s in seen if s.state == "FINALIZED")
    return expected / max((last - first) / 1000, 1e-3)
