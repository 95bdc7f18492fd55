"""The boundary between the Kafka runtime and the download engine: `fetch(job) -> FetchOutcome`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from schemas import Finalized, Hop, JobMessage, Status, Tier


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    """What one job's fetch produced. `ok`: an artifact is stored, `finalized` says which (the FINALIZED
    fields of the job's state record)."""

    status: Status
    hops: tuple[Hop, ...] = ()
    finalized: Finalized | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.SUCCESS


class Fetcher(Protocol):
    """Downloads one job. Never raises for a remote or storage failure: it returns a failed outcome.

    A STORAGE_ERROR outcome tells the runtime the artifact store is unusable (e.g. full) so it can pause
    intake instead of failing the whole queue.
    """

    async def fetch(self, job: JobMessage) -> FetchOutcome: ...


@runtime_checkable
class GroupShared(Protocol):
    """A Fetcher whose per-host politeness limits are the consumer group's (consumer.fetch.Engine).

    Optional: the runtime calls `set_group_share(owned, total)` after every rebalance when the fetcher
    has it (`isinstance(fetcher, GroupShared)`), with the number of jobs-topic partitions this consumer
    now owns and the topic's total; the fetcher then takes owned/total of each host's budget.
    """

    def set_group_share(self, owned: int, total: int) -> None: ...


class FetchObserver(Protocol):
    """Counters the engine reports to (the consumer's Prometheus metrics implement it)."""

    def http_request(self, tier: Tier, code_class: str) -> None:
        """One HTTP response (code_class '2xx'..'5xx') or failure ('error') for a request of `tier`."""

    def bytes_downloaded(self, count: int) -> None: ...


class NullObserver:
    """An observer that counts nothing (unit tests, benchmarks)."""

    def http_request(self, tier: Tier, code_class: str) -> None:
        return None

    def bytes_downloaded(self, count: int) -> None:
        return None
