"""`docfetch-producer topics ensure`: create the docfetch topics (jobs, compacted state, DLQ; co-partitioned)
and verify them against the contract (schemas.topology)."""

from __future__ import annotations

import argparse
import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas import KafkaSettings, TopologyError
from schemas.kafka import admin_client
from schemas.settings import add_kafka_flags, kafka_settings
from schemas.topics import DLQ_TOPIC_CONFIG, JOBS_TOPIC_CONFIG, STATE_TOPIC_CONFIG
from schemas.topology import Topology, describe, problems

CREATE_TIMEOUT_S = 30.0  # KRaft propagates new topics in well under a second; this is a hard stop


def _specs(settings: KafkaSettings, partitions: int, replication: int) -> list[NewTopic]:
    return [
        NewTopic(settings.jobs_topic, partitions, replication, topic_configs=JOBS_TOPIC_CONFIG),
        NewTopic(settings.state_topic, partitions, replication, topic_configs=STATE_TOPIC_CONFIG),
        NewTopic(settings.dlq_topic, partitions, replication, topic_configs=DLQ_TOPIC_CONFIG),
    ]


async def ensure(settings: KafkaSettings, *, partitions: int, replication: int) -> list[str]:
    """Create the missing topics, then verify the whole set. Returns the names created."""
    async with admin_client(settings) as admin:
        before = await describe(admin, settings)
        existing = problems(settings, before)
        fatal = [p for p in existing if "does not exist" not in p]
        if fatal:
            raise TopologyError("; ".join(fatal))
        # An existing jobs or state topic fixes the partition count of the ones still to create.
        count = before.partitions.get(settings.jobs_topic) or before.partitions.get(settings.state_topic)
        specs = _specs(settings, count or partitions, replication)
        wanted = [t for t in specs if before.partitions.get(t.name) is None]
        created = await _create(admin, wanted)
        after = await _settled(admin, settings)
    found = problems(settings, after)
    if found:
        raise TopologyError("; ".join(found))
    return created


TOPIC_ALREADY_EXISTS = 36  # Kafka error code: a concurrent `ensure` won the race


async def _settled(admin: AIOKafkaAdminClient, settings: KafkaSettings) -> Topology:
    """Describe until every topic shows up: on a multi-node cluster the broker answering may not have
    the new topics' metadata yet even after the creating broker showed them."""
    deadline = asyncio.get_running_loop().time() + CREATE_TIMEOUT_S
    while True:
        topology = await describe(admin, settings)
        done = all(n is not None for n in topology.partitions.values())
        if done or asyncio.get_running_loop().time() > deadline:
            return topology  # still missing after the deadline: the caller names the problem
        await asyncio.sleep(0.2)


async def _create(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> list[str]:
    if not topics:
        return []
    response = await admin.create_topics(topics)
    created, errors = [], []
    for entry in response.to_object()["topic_errors"]:
        if entry["error_code"] == 0:
            created.append(entry["topic"])
        elif entry["error_code"] != TOPIC_ALREADY_EXISTS:
            errors.append(f"cannot create {entry['topic']!r}: {entry['error_message']}")
    if errors:
        raise TopologyError("; ".join(errors))
    await _wait_visible(admin, created)
    return created


async def _wait_visible(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Topic creation is asynchronous in KRaft; wait until metadata shows every partition."""
    async with asyncio.timeout(CREATE_TIMEOUT_S):
        while True:
            metas = await admin.describe_topics(names)
            if all(m["error_code"] == 0 and m["partitions"] for m in metas):
                return
            await asyncio.sleep(0.1)


async def run_ensure(args: argparse.Namespace) -> int:
    settings = kafka_settings(args)
    created = await ensure(settings, partitions=args.partitions, replication=args.replication)
    names = (settings.jobs_topic, settings.state_topic, settings.dlq_topic)
    for name in names:
        print(f"{name}: {'created' if name in created else 'exists, verified'}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("topics", help="create and verify the docfetch topics")
    tsub = parser.add_subparsers(dest="topics_cmd", required=True)
    ensure = tsub.add_parser(
        "ensure",
        help="create missing topics (jobs, compacted state, DLQ) and verify co-partitioning",
        description="Idempotent. Refuses when existing topics have different partition counts "
        "or the state topic is not compacted.",
    )
    ensure.add_argument("--partitions", type=int, default=12, help="partitions for new topics (12)")
    ensure.add_argument("--replication", type=int, default=1, help="replication factor for new topics (1)")
    add_kafka_flags(ensure)
    ensure.set_defaults(handler=run_ensure)
