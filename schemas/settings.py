"""Kafka settings shared by every docfetch command (prefix DOCFETCH_); read once, passed down."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import DEFAULT_DLQ_TOPIC, DEFAULT_GROUP_ID, DEFAULT_JOBS_TOPIC, DEFAULT_STATE_TOPIC


class KafkaSettings(BaseSettings):
    """Where the cluster is and which topics and group docfetch uses."""

    model_config = SettingsConfigDict(env_prefix="DOCFETCH_", extra="ignore", frozen=True)

    bootstrap_servers: str = Field(default="127.0.0.1:9092", min_length=1)
    jobs_topic: str = Field(default=DEFAULT_JOBS_TOPIC, min_length=1)
    state_topic: str = Field(default=DEFAULT_STATE_TOPIC, min_length=1)
    dlq_topic: str = Field(default=DEFAULT_DLQ_TOPIC, min_length=1)
    group_id: str = Field(default=DEFAULT_GROUP_ID, min_length=1)
