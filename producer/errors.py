"""The error tree of the producer package:

    ProducerError                    exit_code: what `docfetch-producer` exits with when it ends the command
    ├── ConfigError                  a setting or flag is invalid (exit 2)
    ├── InputError                   a seed file cannot be read at all (exit 2)
    ├── RejectedLine                 one seed line that cannot become a job (counted, never ends a run)
    ├── SendError                    Kafka did not acknowledge some job messages (exit 1; re-running is safe)
    └── NotFound                     an operator asked about a job the topics do not know (exit 1)

Errors of the contracts (schemas.errors.SchemaError: settings, cluster, topology) are the other tree the
producer's commands report.
"""

from __future__ import annotations


class ProducerError(Exception):
    """Base of every error the producer CLI reports; the message says what to fix."""

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


class NotFound(ProducerError):
    """An operator asked about a job that the topics do not know."""
