"""Describe the docfetch topics on a cluster and check them against the topic contract (schemas.topics)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.errors import TopologyError
from schemas.kafka import admin_client
from schemas.settings import KafkaSettings
from schemas.topics import topology_problems

UNKNOWN_TOPIC = 3  # Kafka error code UNKNOWN_TOPIC_OR_PARTITION
# A broker that has not caught up with a topic just created (or a cluster just healed) answers
# describe_configs with an error and no entries; the read is retried this long before giving up.
CONFIG_READ_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Topology:
    """What exists: partitions per topic (None = missing) and the state topic's cleanup policy and
    max.message.bytes (the largest record batch it accepts)."""

    partitions: dict[str, int | None]
    state_cleanup_policy: str | None
    state_max_message_bytes: int | None = None


async def _configs_once(admin: AIOKafkaAdminClient, topic: str) -> tuple[dict[str, str], str | None]:
    """The topic's effective configuration (explicit or inherited from the broker), or the error the
    answering broker gave instead."""
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    found: dict[str, str] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                return {}, f"error {resource['error_code']}: {resource['error_message']}"
            for entry in resource["config_entries"]:
                if entry["config_value"] is not None:
                    found[str(entry["config_names"])] = str(entry["config_value"])
    # Every existing topic has an effective cleanup.policy; none means the broker did not know it yet.
    return found, None if "cleanup.policy" in found else "no cleanup.policy in the answer"


async def _configs(admin: AIOKafkaAdminClient, topic: str) -> dict[str, str]:
    """`_configs_once` until a broker answers with the topic's configuration, within CONFIG_READ_TIMEOUT_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONFIG_READ_TIMEOUT_S
    while True:
        found, error = await _configs_once(admin, topic)
        if error is None:
            return found
        if loop.time() > deadline:
            raise TopologyError(
                f"cannot read the configuration of topic {topic!r} ({error}) "
                f"within {CONFIG_READ_TIMEOUT_S:g} s"
            )
        await asyncio.sleep(0.2)


async def describe(admin: AIOKafkaAdminClient, settings: KafkaSettings) -> Topology:
    names = [settings.jobs_topic, settings.state_topic, settings.dlq_topic]
    partitions: dict[str, int | None] = {}
    for meta in await admin.describe_topics(names):
        missing = meta["error_code"] == UNKNOWN_TOPIC or not meta["partitions"]
        partitions[meta["topic"]] = None if missing else len(meta["partitions"])
    if partitions.get(settings.state_topic) is None:
        return Topology(partitions, None)
    configs = await _configs(admin, settings.state_topic)
    limit = configs.get("max.message.bytes")
    return Topology(partitions, configs.get("cleanup.policy"), int(limit) if limit else None)


def problems(settings: KafkaSettings, topology: Topology) -> list[str]:
    return topology_problems(
        jobs_topic=settings.jobs_topic,
        state_topic=settings.state_topic,
        partitions=topology.partitions,
        state_cleanup_policy=topology.state_cleanup_policy,
        state_max_message_bytes=topology.state_max_message_bytes,
    )


async def check(settings: KafkaSettings) -> Topology:
    """Raise TopologyError naming every problem; return the topology when it is sound."""
    async with admin_client(settings) as admin:
        topology = await describe(admin, settings)
    found = problems(settings, topology)
    if found:
        raise TopologyError("; ".join(found))
    return topology
