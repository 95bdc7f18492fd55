"""What both sides need of a Kafka cluster: an admin client, a topic's partitions, a group's offsets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.errors import TopologyError
from schemas.settings import KafkaSettings


@asynccontextmanager
async def admin_client(settings: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on the way out."""
    admin = AIOKafkaAdminClient(**settings.client_options())
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def partitions_of(settings: KafkaSettings, topic: str) -> list[TopicPartition]:
    """The partitions of `topic`; TopologyError when it does not exist."""
    async with admin_client(settings) as admin:
        (meta,) = await admin.describe_topics([topic])
    if meta["error_code"] != 0 or not meta["partitions"]:
        raise TopologyError(f"topic {topic!r} does not exist (run `docfetch-producer topics ensure`)")
    return sorted(TopicPartition(topic, p["partition"]) for p in meta["partitions"])


async def committed_offsets(settings: KafkaSettings) -> dict[int, int | None]:
    """The group's committed offset of every jobs-topic partition (None: nothing committed yet)."""
    tps = await partitions_of(settings, settings.jobs_topic)
    async with admin_client(settings) as admin:
        offsets = await admin.list_consumer_group_offsets(settings.group_id, partitions=tps)
    found = {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    return {tp.partition: found.get(tp.partition) for tp in tps}
