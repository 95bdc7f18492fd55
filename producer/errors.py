"""The error tree of the producer package."""

from __future__ import annotations


class ProducerError(Exception):
    """Base of every error the producer CLI reports; the message says what to fix."""

    retryable = False
    exit_code = 1


class ConfigError(ProducerError):
    """A setting or flag is invalid."""

    exit_code = 2


class InputError(ProducerError):
    """A seed file could not be read at all (missing, unreadable, bad gzip)."""

    exit_code = 2


class RejectedLine(ProducerError):
    """One input line that cannot become a job; `reason` is a short slug, the message the detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class SendError(ProducerError):
    """Kafka did not acknowledge some job messages; a re-run of the same input is safe."""

    retryable = True


class NotFound(ProducerError):
    """An operator asked about a job that the topics do not know."""
