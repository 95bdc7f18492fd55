"""Kafka settings shared by every docfetch command (prefix DOCFETCH_); read once, passed down."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.errors import SettingsError
from schemas.topics import DEFAULT_DLQ_TOPIC, DEFAULT_GROUP_ID, DEFAULT_JOBS_TOPIC, DEFAULT_STATE_TOPIC


class KafkaSettings(BaseSettings):
    """Where the cluster is and which topics and group docfetch uses."""

    model_config = SettingsConfigDict(env_prefix="DOCFETCH_", extra="ignore", frozen=True)

    bootstrap_servers: str = Field(default="127.0.0.1:9092", min_length=1)
    jobs_topic: str = Field(default=DEFAULT_JOBS_TOPIC, min_length=1)
    state_topic: str = Field(default=DEFAULT_STATE_TOPIC, min_length=1)
    dlq_topic: str = Field(default=DEFAULT_DLQ_TOPIC, min_length=1)
    group_id: str = Field(default=DEFAULT_GROUP_ID, min_length=1)

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments every aiokafka client docfetch creates starts from (one place for the
        connection: bootstrap servers now, security later)."""
        return {"bootstrap_servers": self.bootstrap_servers}


# flag dest -> settings field; flags override DOCFETCH_* environment variables.
KAFKA_FLAGS = {
    "bootstrap": "bootstrap_servers",
    "jobs_topic": "jobs_topic",
    "state_topic": "state_topic",
    "dlq_topic": "dlq_topic",
    "group": "group_id",
}


def add_kafka_flags(parser: argparse.ArgumentParser) -> None:
    """The Kafka flags every docfetch command takes (producer and consumer alike)."""
    group = parser.add_argument_group("kafka (each also a DOCFETCH_ setting)")
    group.add_argument("--bootstrap", help="bootstrap servers [DOCFETCH_BOOTSTRAP_SERVERS]")
    group.add_argument("--jobs-topic", help="jobs topic [DOCFETCH_JOBS_TOPIC, docfetch.jobs]")
    group.add_argument("--state-topic", help="state topic [DOCFETCH_STATE_TOPIC, docfetch.state]")
    group.add_argument("--dlq-topic", help="DLQ topic [DOCFETCH_DLQ_TOPIC, docfetch.dlq]")
    group.add_argument("--group", help="consumer group [DOCFETCH_GROUP_ID, docfetch]")


def kafka_settings(args: argparse.Namespace) -> KafkaSettings:
    """Read the environment once and apply the flags given; SettingsError saying what to fix."""
    overrides = {
        field: getattr(args, dest) for dest, field in KAFKA_FLAGS.items() if getattr(args, dest, None)
    }
    try:
        return KafkaSettings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SettingsError(f"invalid setting {where} (DOCFETCH_{where.upper()}): {first['msg']}") from None
