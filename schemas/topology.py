"""Describe the docfetch topics on a cluster and check them against the topic contract (schemas.topics)."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.errors import TopologyError
from schemas.kafka import admin_client
from schemas.settings import KafkaSettings
from schemas.topics import topology_problems

UNKNOWN_TOPIC = 3  # Kafka error code UNKNOWN_TOPIC_OR_PARTITION


@dataclass(frozen=True)
class Topology:
    """What exists: partitions per topic (None = missing) and the state topic's cleanup policy."""

    partitions: dict[str, int | None]
    state_cleanup_policy: str | None


async def _cleanup_policy(admin: AIOKafkaAdminClient, topic: str) -> str | None:
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    for response in responses:
        for resource in response.to_object()["resources"]:
            for entry in resource["config_entries"]:
                if entry["config_names"] == "cleanup.policy":
                    return str(entry["config_value"])
    return None


async def describe(admin: AIOKafkaAdminClient, settings: KafkaSettings) -> Topology:
    names = [settings.jobs_topic, settings.state_topic, settings.dlq_topic]
    partitions: dict[str, int | None] = {}
    for meta in await admin.describe_topics(names):
        missing = meta["error_code"] == UNKNOWN_TOPIC or not meta["partitions"]
        partitions[meta["topic"]] = None if missing else len(meta["partitions"])
    policy = None
    if partitions.get(settings.state_topic) is not None:
        policy = await _cleanup_policy(admin, settings.state_topic)
    return Topology(partitions, policy)


def problems(settings: KafkaSettings, topology: Topology) -> list[str]:
    return topology_problems(
        jobs_topic=settings.jobs_topic,
        state_topic=settings.state_topic,
        partitions=topology.partitions,
        state_cleanup_policy=topology.state_cleanup_policy,
    )


async def check(settings: KafkaSettings) -> Topology:
    """Raise TopologyError naming every problem; return the topology when it is sound."""
    async with admin_client(settings) as admin:
        topology = await describe(admin, settings)
    found = problems(settings, topology)
    if found:
        raise TopologyError("; ".join(found))
    return topology
