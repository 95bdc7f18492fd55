"""Producer settings: the shared Kafka settings, overridden by command-line flags."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from producer.errors import ConfigError
from schemas import KafkaSettings

# flag dest -> settings field; flags override DOCFETCH_* environment variables.
KAFKA_FLAGS = {
    "bootstrap": "bootstrap_servers",
    "jobs_topic": "jobs_topic",
    "state_topic": "state_topic",
    "dlq_topic": "dlq_topic",
    "group": "group_id",
}


def add_kafka_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("kafka (each also a DOCFETCH_ setting)")
    group.add_argument("--bootstrap", help="bootstrap servers [DOCFETCH_BOOTSTRAP_SERVERS]")
    group.add_argument("--jobs-topic", help="jobs topic [DOCFETCH_JOBS_TOPIC, docfetch.jobs]")
    group.add_argument("--state-topic", help="state topic [DOCFETCH_STATE_TOPIC, docfetch.state]")
    group.add_argument("--dlq-topic", help="DLQ topic [DOCFETCH_DLQ_TOPIC, docfetch.dlq]")
    group.add_argument("--group", help="consumer group [DOCFETCH_GROUP_ID, docfetch]")


def kafka_settings(args: argparse.Namespace) -> KafkaSettings:
    """Read the environment once and apply the flags given; refuse bad values clearly."""
    overrides = {
        field: getattr(args, dest) for dest, field in KAFKA_FLAGS.items() if getattr(args, dest, None)
    }
    try:
        return KafkaSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"invalid setting: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
