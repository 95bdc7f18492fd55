"""The error tree of the consumer package."""

from __future__ import annotations

from schemas.errors import EXIT_LOCAL_RESOURCE, EXIT_SETTINGS


class ConsumerError(Exception):
    """Base of every error the consumer reports; the message says what to fix."""

    retryable = False
    exit_code = 1


class ConfigError(ConsumerError):
    """A setting or flag is invalid: the consumer refuses to start."""

    exit_code = EXIT_SETTINGS


class PortUnavailable(ConsumerError):
    """The metrics/health port is taken (or not allowed): the consumer refuses to start."""

    exit_code = EXIT_LOCAL_RESOURCE


class PartitionLost(ConsumerError):
    """This process no longer owns a partition (fenced producer, failed generation-fenced commit).

    Its in-flight jobs are abandoned and their results dropped; the new owner redoes them.
    """

    retryable = True


class PartitionUnrecoverable(ConsumerError):
    """A lost partition could not be re-acquired within the recovery deadline: the process leaves the group
    and exits non-zero so that its supervisor restarts it (a fresh process usually can)."""

    retryable = True
    exit_code = 4  # 3 is a topology error (schemas.ClusterError)
