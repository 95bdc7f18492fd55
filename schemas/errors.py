"""The error tree of the contracts package."""

from __future__ import annotations


class SchemaError(Exception):
    """Base of every error raised by `schemas`."""

    retryable = False


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
