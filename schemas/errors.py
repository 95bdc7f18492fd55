"""The error tree of the contracts package."""

from __future__ import annotations


class SchemaError(Exception):
    """Base of every error raised by `schemas`."""

    retryable = False
    exit_code = 1  # what a command exits with when this error ends it


class PoisonMessage(SchemaError):
    """Bytes that can never become a valid message; they go to the DLQ with `reason`.

    reason is one of: ``undecodable``, ``unknown-version``, ``schema-violation``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class InvalidURL(SchemaError):
    """A URL that cannot be canonicalised (no http(s) scheme, no host, bad IDNA, bad port)."""


class IllegalTransition(SchemaError):
    """A state change the transition table does not allow."""


class ClusterError(SchemaError):
    """The Kafka cluster or its topics are not as docfetch needs them; the message says what to fix."""

    exit_code = 3


class TopologyError(ClusterError):
    """Topics are missing, not co-partitioned, or the state topic is not compacted."""


class ReadStalled(ClusterError):
    """Reading a topic to its end made no progress (the broker lost data or stopped answering)."""

    retryable = True
    exit_code = 1


class SettingsError(SchemaError):
    """A setting or flag is invalid: the command refuses to start."""

    exit_code = 2
