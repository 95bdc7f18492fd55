"""Sending a sink's records with every send acknowledged, and what a record too large for the state topic
becomes: a small FAILED record of the same job attempt (status record-too-large), so the partition moves on.

aiokafka commits a transaction even when one of its sends failed (Java's client refuses, KAFKA-13967), so
a sink awaits every send future itself before it commits anything. Producers are sized to the state
topic's max.message.bytes (`size_options`), so a too-large record is refused by the client before it is
sent: a batch the broker refuses would leave the idempotent producer's sequence numbers out of order, and
only a new producer (a re-acquisition of the partition) could write again.
"""

from __future__ import annotations

import asyncio
import dataclasses

from aiokafka import AIOKafkaProducer
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.structs import RecordMetadata

from consumer.errors import Rejected as Rejected  # committer and keeper import it from here
from consumer.records import OutRecord
from schemas import KafkaSettings, PoisonMessage, State, Status, decode_state, encode
from schemas.kafka import admin_client

# The broker's "record (batch) larger than max.message.bytes", and the client's "larger than
# max_request_size" (raised by send() itself).
TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)
MAX_REJECTION_DETAIL_CHARS = 300  # the shrunk record must stay small whatever the error text says
DEFAULT_MAX_MESSAGE_BYTES = 1_048_588  # Kafka's default max.message.bytes (a topic without an override)
DEFAULT_BATCH_BYTES = 16_384  # aiokafka's default max_batch_size
# Batch framing the broker counts against max.message.bytes and the client's size estimate may leave out.
SIZE_MARGIN_BYTES = 128


async def state_record_limit(kafka: KafkaSettings) -> int:
    """The state topic's max.message.bytes: the largest record batch the broker accepts there."""
    async with admin_client(kafka) as admin:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, kafka.state_topic)]
        )
    for response in responses:
        for resource in response.to_object()["resources"]:
            for entry in resource["config_entries"]:
                if entry["config_names"] == "max.message.bytes":
                    return int(entry["config_value"])
    return DEFAULT_MAX_MESSAGE_BYTES


def size_options(limit_bytes: int) -> dict[str, int]:
    """Producer options that keep every request and batch within `limit_bytes` (see the module doc)."""
    usable = max(limit_bytes - SIZE_MARGIN_BYTES, SIZE_MARGIN_BYTES)
    return {"max_request_size": usable, "max_batch_size": min(DEFAULT_BATCH_BYTES, usable)}


async def send_acknowledged(
    producer: AIOKafkaProducer, records: list[OutRecord], state_topic: str, *, one_by_one: bool
) -> int | None:
    """Send `records` and await every acknowledgement; one past the highest state-topic offset written
    (None when no state record was sent). `one_by_one` puts each record in a request of its own."""
    futures: list[asyncio.Future[object]] = []
    errors: dict[int, BaseException] = {}
    for i, r in enumerate(records):
        try:
            headers = list(r.headers)
            fut = await producer.send(r.topic, r.value, key=r.key, partition=r.partition, headers=headers)
        except TOO_LARGE as exc:  # refused by the client before sending
            errors[i] = exc
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(None)
        futures.append(fut)
        if one_by_one:
            await asyncio.wait([fut])
    results = await asyncio.gather(*futures, return_exceptions=True)
    errors |= {i: res for i, res in enumerate(results) if isinstance(res, BaseException)}
    if errors:
        raise Rejected(errors, too_large_only=all(isinstance(e, TOO_LARGE) for e in errors.values()))
    written = zip(records, results, strict=True)
    offsets = [m.offset for r, m in written if r.topic == state_topic and isinstance(m, RecordMetadata)]
    return max(offsets) + 1 if offsets else None


def shrink(record: OutRecord, error: BaseException, state_topic: str) -> OutRecord:
    """The small stand-in for a refused record: FAILED record-too-large (state), or the DLQ copy without
    its value (the headers still say where the message was and why it is poison)."""
    detail = f"record of {len(record.value or b'')} bytes refused: {error!r}"[:MAX_REJECTION_DETAIL_CHARS]
    if record.topic != state_topic:
        headers = (*record.headers, ("docfetch-value-dropped", detail.encode()))
        return dataclasses.replace(record, value=None, headers=headers)
    try:
        original = decode_state(record.value)
    except PoisonMessage:
        return record  # not ours to rewrite; it fails again and the partition is lost and retried
    failed = original.model_copy(
        update={
            "state": State.FAILED,
            "status": Status.RECORD_TOO_LARGE,
            "sha256": None,
            "size": None,
            "mimetype": None,
            "final_url": None,
            "hops": (),
            "detail": detail,
        }
    )
    return dataclasses.replace(record, value=encode(failed))
