"""The download engine: fallback tiers, politeness, validation, content-addressed storage."""

from consumer.fetch.engine import Engine
from consumer.fetch.settings import EngineSettings

__all__ = ["Engine", "EngineSettings"]
