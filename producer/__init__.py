"""docfetch producer: seeding and operator commands."""

from producer.errors import ConfigError, InputError, ProducerError

__all__ = ["ConfigError", "InputError", "ProducerError"]
