"""Session-wide fixtures: one real Kafka broker per session, fresh topics and groups per test."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest

from producer.commands import topics
from schemas import KafkaSettings
from tests.kafka_harness import Broker, start_broker

# The origin farm fixtures (origin_farm, engine_settings, make_job) for every test; the private SASL_SSL
# cluster (secure_cluster), started only by the tests that ask for it.
pytest_plugins = ["tests.integration.farm_fixtures", "tests.kafka_harness.secure"]


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    broker = start_broker()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: Broker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Names unique to this test: 'docfetch-<test>-<purpose>-<random>'."""
    test = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]

    def make(purpose: str) -> str:
        return f"t-{test}-{purpose}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> KafkaSettings:
    """Settings with fresh topic names and group id; topics are not created yet."""
    return KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        jobs_topic=unique_name("jobs"),
        state_topic=unique_name("state"),
        dlq_topic=unique_name("dlq"),
        group_id=unique_name("group"),
    )


MakeTopics = Callable[..., Awaitable[KafkaSettings]]


@pytest.fixture
def make_topics(kafka_settings: KafkaSettings) -> MakeTopics:
    """Factory: create this test's jobs/state/DLQ topics (default 3 partitions), return the settings."""

    async def make(partitions: int = 3, replication: int = 1) -> KafkaSettings:
        await topics.ensure(kafka_settings, partitions=partitions, replication=replication)
        return kafka_settings

    return make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)
