"""`docfetch-producer topics ensure` against the real broker."""

from __future__ import annotations

import subprocess
import sys

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from producer.commands import topics
from schemas import KafkaSettings, TopologyError
from schemas.topology import check
from tests.conftest import MakeTopics


async def test_fresh_ensure_creates_co_partitioned_compacted_topics(make_topics: MakeTopics) -> None:
    settings = await make_topics(partitions=4)
    topology = await check(settings)
    assert topology.partitions == {settings.jobs_topic: 4, settings.state_topic: 4, settings.dlq_topic: 4}
    assert topology.state_cleanup_policy == "compact"


async def test_ensure_is_idempotent(kafka_settings: KafkaSettings) -> None:
    first = await topics.ensure(kafka_settings, partitions=2, replication=1)
    second = await topics.ensure(kafka_settings, partitions=2, replication=1)
    assert sorted(first) == sorted(
        [kafka_settings.jobs_topic, kafka_settings.state_topic, kafka_settings.dlq_topic]
    )
    assert second == []


async def _create(settings: KafkaSettings, *specs: NewTopic) -> None:
    admin = AIOKafkaAdminClient(**settings.client_options())
    await admin.start()
    try:
        await admin.create_topics(list(specs))
    finally:
        await admin.close()


async def test_refuses_mismatched_partitions(kafka_settings: KafkaSettings) -> None:
    await _create(
        kafka_settings,
        NewTopic(kafka_settings.jobs_topic, 3, 1),
        NewTopic(kafka_settings.state_topic, 2, 1, topic_configs={"cleanup.policy": "compact"}),
    )
    with pytest.raises(TopologyError, match="co-partitioning"):
        await topics.ensure(kafka_settings, partitions=3, replication=1)


async def test_refuses_non_compacted_state_topic(kafka_settings: KafkaSettings) -> None:
    await _create(kafka_settings, NewTopic(kafka_settings.state_topic, 3, 1))
    with pytest.raises(TopologyError, match=r"cleanup\.policy"):
        await topics.ensure(kafka_settings, partitions=3, replication=1)


async def test_missing_topic_adopts_existing_partition_count(kafka_settings: KafkaSettings) -> None:
    await _create(kafka_settings, NewTopic(kafka_settings.jobs_topic, 5, 1))
    await topics.ensure(kafka_settings, partitions=2, replication=1)
    topology = await check(kafka_settings)
    assert set(topology.partitions.values()) == {5}


def test_cli_refusal_names_the_problem(kafka_settings: KafkaSettings) -> None:
    env_args = [
        "--bootstrap",
        kafka_settings.bootstrap_servers,
        "--jobs-topic",
        kafka_settings.jobs_topic,
        "--state-topic",
        kafka_settings.jobs_topic,  # the jobs topic is not compacted
        "--dlq-topic",
        kafka_settings.dlq_topic,
    ]
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "producer",
            "topics",
            "ensure",
            "--partitions",
            "2",
            "--bootstrap",
            kafka_settings.bootstrap_servers,
            "--jobs-topic",
            kafka_settings.jobs_topic,
            "--state-topic",
            kafka_settings.state_topic,
            "--dlq-topic",
            kafka_settings.dlq_topic,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert f"{kafka_settings.state_topic}: created" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "producer", "topics", "ensure", *env_args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 3
    assert "must be 'compact'" in bad.stderr


async def test_unreadable_config_is_an_error_not_an_unset_policy(
    kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broker that does not know the topic yet answers describe_configs with an error and no entries:
    that is retried, then named, never read as `cleanup.policy=None` (a non-compacted state topic)."""
    from schemas import topology
    from schemas.kafka import admin_client

    monkeypatch.setattr(topology, "CONFIG_READ_TIMEOUT_S", 0.5)
    async with admin_client(kafka_settings) as admin:
        with pytest.raises(TopologyError, match=r"cannot read the configuration of topic 'no-such-topic'"):
            await topology._configs(admin, "no-such-topic")
