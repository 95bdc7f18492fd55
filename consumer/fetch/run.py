"""The state of one job's fetch: hops taken, hop budget, URLs visited, failures so far."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

from consumer.fetch.errors import FetchFailed
from consumer.outcome import FetchOutcome
from schemas import Hop, Status, Tier, Wanted

# The running job's wanted type (the engine sets it per job, like JOB_DEADLINE_AT): the downloader reads it
# to decide whether a body is the artifact (a PDF, or an XML document for `xml`) or a page to parse.
JOB_WANTED: contextvars.ContextVar[Wanted] = contextvars.ContextVar("job_wanted", default=Wanted.PDF)


@dataclass
class JobRun:
    max_hops: int
    hops: list[Hop] = field(default_factory=list)
    visited: set[str] = field(default_factory=set)
    failures: list[tuple[str, FetchFailed]] = field(default_factory=list)
    requests: int = 0

    def spend_request(self) -> None:
        if self.requests >= self.max_hops:
            raise FetchFailed(Status.TOO_MANY_HOPS, f"more than {self.max_hops} requests")
        self.requests += 1

    def record(self, url: str, tier: Tier, http_status: int | None, note: str | None = None) -> None:
        self.hops.append(Hop(url=url, tier=tier, http_status=http_status, note=note))

    def failed(self, url: str, exc: FetchFailed) -> None:
        self.failures.append((url, exc))

    def failed_urls(self, *, excluding: frozenset[Status]) -> list[str]:
        """Candidate URLs that failed, in order, once each (the web-archive tier looks them up)."""
        return list(dict.fromkeys(url for url, exc in self.failures if exc.status not in excluding))

    def outcome(self, *, fallback: Status = Status.NO_PDF_LINK) -> FetchOutcome:
        """The failed outcome: the first retryable failure (a later attempt may succeed), else the first."""
        if not self.failures:
            return FetchOutcome(status=fallback, hops=tuple(self.hops))
        retryable = [exc for _, exc in self.failures if exc.retryable]
        chosen = (retryable or [exc for _, exc in self.failures])[0]
        return FetchOutcome(status=chosen.status, hops=tuple(self.hops), detail=chosen.detail or None)
