"""docfetch producer: seeding and operator commands."""

from producer.errors import ConfigError, InputError, ProducerError, TopologyError

__all__ = ["ConfigError", "InputError", "ProducerError", "TopologyError"]
