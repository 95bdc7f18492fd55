"""The error tree of the producer package."""

from __future__ import annotations


class ProducerError(Exception):
    """Base of every error the producer CLI reports; the message says what to fix."""

    retryable = False
    exit_code = 1


class TopologyError(ProducerError):
    """Existing topics break co-partitioning or the state topic is not compacted."""

    exit_code = 3


class ConfigError(ProducerError):
    """A setting or flag is invalid."""

    exit_code = 2


class InputError(ProducerError):
    """A seed file could not be read at all (missing, unreadable, bad gzip)."""

    exit_code = 2
