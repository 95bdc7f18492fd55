"""Records a partition writes besides its jobs' state: the outgoing-record shape, and DLQ records for poison
job messages (the raw bytes plus where they came from and why)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.topics import DLQ_DETAIL, DLQ_OFFSET, DLQ_PARTITION, DLQ_REASON, DLQ_TOPIC

MAX_DETAIL_CHARS = 1_000  # a header, not a log: enough to see which field was wrong


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to write (state or DLQ), on an explicit partition so p's state stays in p."""

    topic: str
    partition: int | None  # None: the partitioner picks (DLQ records)
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def dlq_record(
    *,
    dlq_topic: str,
    source_topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
    detail: str,
) -> OutRecord:
    """The DLQ copy of a poison message; key and value are the original bytes."""
    headers = (
        (DLQ_REASON, reason.encode()),
        (DLQ_DETAIL, detail[:MAX_DETAIL_CHARS].encode("utf-8", "replace")),
        (DLQ_TOPIC, source_topic.encode()),
        (DLQ_PARTITION, str(partition).encode()),
        (DLQ_OFFSET, str(offset).encode()),
    )
    return OutRecord(dlq_topic, None, key, value, headers)
