"""The state of one job's fetch: hops taken, request budget, URLs visited, failures so far."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

from consumer.errors import FetchFailed
from consumer.outcome import FetchOutcome
from schemas import Hop, Status, Tier, Wanted

# The running job's wanted type (the engine sets it per job, like JOB_DEADLINE_AT): the downloader reads it
# to decide whether a body is the artifact (a PDF, or an XML document for `xml`) or a page to parse.
JOB_WANTED: contextvars.ContextVar[Wanted] = contextvars.ContextVar("job_wanted", default=Wanted.PDF)

# Network operations a job may make per allowed hop: on a fresh host a download costs a DNS lookup, a
# robots.txt fetch and the request itself. A job of 10,000 candidates on distinct hosts thus stops after
# 3 * max_hops operations instead of 10,000 robots.txt fetches and 20,000 lookups.
NETWORK_OPS_PER_HOP = 3


@dataclass
class JobRun:
    max_hops: int
    hops: list[Hop] = field(default_factory=list)
    visited: set[str] = field(default_factory=set)
    failures: list[tuple[str, FetchFailed]] = field(default_factory=list)
    requests: int = 0  # downloads (hops), capped by max_hops
    network_ops: int = 0  # downloads + robots.txt fetches + DNS lookups, capped by network_budget
    spent_on: dict[str, int] = field(default_factory=dict)

    @property
    def network_budget(self) -> int:
        return self.max_hops * NETWORK_OPS_PER_HOP

    def spend_request(self) -> None:
        if self.requests >= self.max_hops:
            raise FetchFailed(Status.TOO_MANY_HOPS, f"more than {self.max_hops} requests")
        self.spend("request")
        self.requests += 1

    def spend(self, kind: str) -> None:
        """Pay one network operation (`request`, `robots`, `lookup`); TOO_MANY_HOPS once spent."""
        if self.network_ops >= self.network_budget:
            raise FetchFailed(
                Status.TOO_MANY_HOPS, f"job budget of {self.network_budget} network operations spent ({kind})"
            )
        self.network_ops += 1
        self.spent_on[kind] = self.spent_on.get(kind, 0) + 1

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


# The job whose request is in progress in this task: the connection layer and the robots.txt cache pay
# their lookups and fetches from it (they are shared by every job and cannot be handed a run).
ACTIVE_RUN: contextvars.ContextVar[JobRun | None] = contextvars.ContextVar("active_run", default=None)


def spend_lookup() -> None:
    """Pay a DNS lookup from the active job, if any."""
    run = ACTIVE_RUN.get()
    if run is not None:
        run.spend("lookup")


def spend_robots() -> None:
    """Pay a robots.txt fetch from the active job, if any."""
    run = ACTIVE_RUN.get()
    if run is not None:
        run.spend("robots")
