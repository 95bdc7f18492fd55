"""The error tree of the consumer package (the runtime and the download engine):

    ConsumerError                    exit_code: what `docfetch-consumer` exits with when it ends the process
    ├── ConfigError                  a setting or flag is invalid (exit 2)
    ├── PortUnavailable              the metrics port is taken (exit 8)
    ├── PartitionLost                a partition is no longer owned; its in-flight results are dropped
    ├── PartitionUnrecoverable       a lost partition was not re-acquired in time (exit 4)
    ├── Rejected                     some sends of a flush failed (consumer.oversize)
    ├── StorageError                 the artifact store cannot take a write (consumer.storage)
    ├── StoreBusy                    another process holds a partition's state store (consumer.statedir)
    ├── StoreFailed                  RocksDB failed twice on a partition's state store (consumer.restore)
    ├── TooLarge                     an artifact above max_bytes (consumer.storage)
    └── FetchFailed                  one URL or the job failed for a status (consumer.fetch)
        └── StoreFull                the store refused a write: the whole job stops

Errors of the contracts (schemas.errors.SchemaError: settings, cluster, topology) are the other tree the
consumer's command reports.
"""

from __future__ import annotations

from schemas import Status
from schemas.errors import EXIT_LOCAL_RESOURCE, EXIT_SETTINGS


class ConsumerError(Exception):
    """Base of every error the consumer reports; the message says what to fix."""

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


class PartitionUnrecoverable(ConsumerError):
    """A lost partition could not be re-acquired within the recovery deadline: the process leaves the group
    and exits non-zero so that its supervisor restarts it (a fresh process usually can)."""

    exit_code = 4  # 3 is a topology error (schemas.ClusterError)


class Rejected(ConsumerError):
    """One or more sends of a flush failed: index in the batch -> the error; `too_large_only` when every
    one of them was a record too large for the topic (consumer.oversize then shrinks and resends)."""

    def __init__(self, errors: dict[int, BaseException], *, too_large_only: bool) -> None:
        super().__init__(f"{len(errors)} record(s) not written: {next(iter(errors.values()))!r}")
        self.errors = errors
        self.too_large_only = too_large_only


class StorageError(ConsumerError):
    """The store cannot take an artifact (disk full, quota, I/O error); a later attempt may succeed."""


class TooLarge(ConsumerError):
    """The artifact exceeds max_bytes. Not retryable: the same URL gives the same body."""


class FetchFailed(ConsumerError):
    """One URL (or the job) failed for `status`; `retryable` comes from the status vocabulary."""

    def __init__(self, status: Status, detail: str = "", *, retry_after_s: float | None = None) -> None:
        super().__init__(f"{status}: {detail}" if detail else str(status))
        self.status = status
        self.detail = detail
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        return self.status.retryable


class StoreFull(FetchFailed):
    """The artifact store refused a write: the whole job stops (the runtime pauses intake)."""

    def __init__(self, detail: str) -> None:
        super().__init__(Status.STORAGE_ERROR, detail)


class StoreBusy(ConsumerError):
    """Another process holds this partition's state store (RocksDB's LOCK): restore into memory instead."""


class StoreFailed(ConsumerError):
    """RocksDB failed on a partition's state store (corrupt files, an I/O error) while opening or restoring
    it, and again after the store was deleted; the keeper's acquisition retries, then gives p up."""
