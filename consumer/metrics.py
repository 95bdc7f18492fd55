"""Prometheus metrics of one consumer process (issue 6 names); also the engine's FetchObserver."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

from schemas import Tier

# Downloads range from tens of milliseconds (loopback) to the job deadline (minutes).
DURATION_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Event-loop lag: a healthy loop wakes within a millisecond or two; a second or more stalls heartbeats.
LOOP_LAG_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Restores range from a fraction of a second (a new topic) to hours (hundreds of millions of records on
# one partition at ~100k records/s): the last finite bucket is 4 h, so a large restore never lands in +Inf.
RESTORE_BUCKETS_S = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)


class Metrics:
    """Every docfetch_* series on a per-instance registry (tests run several in one process)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self._children: dict[tuple[object, ...], Counter] = {}
        ProcessCollector(registry=r)
        self.jobs = Counter(
            "docfetch_jobs", "Jobs whose terminal record committed", ["outcome", "status"], registry=r
        )
        self.job_duration = Histogram(
            "docfetch_job_duration_seconds", "Fetch time per job", buckets=DURATION_BUCKETS_S, registry=r
        )
        self.inflight = Gauge("docfetch_inflight_jobs", "Jobs in flight", registry=r)
        self.lag = Gauge(
            "docfetch_partition_lag", "End offset minus committed offset", ["partition"], registry=r
        )
        self.oldest_unfinished_age = Gauge(
            "docfetch_oldest_unfinished_job_age_seconds",
            "Age of the oldest unfinished job of the partition (0 when none)",
            ["partition"],
            registry=r,
        )
        self.rebalances = Counter("docfetch_rebalances", "Partition assignments received", registry=r)
        self.restore = Histogram(
            "docfetch_restore_seconds",
            "Time to restore one state partition",
            buckets=RESTORE_BUCKETS_S,
            registry=r,
        )
        self.http = Counter("docfetch_http_requests", "HTTP requests", ["tier", "code_class"], registry=r)
        self.bytes = Counter("docfetch_downloaded_bytes", "Body bytes downloaded", registry=r)
        self.dlq = Counter("docfetch_dlq_messages", "Poison messages sent to the DLQ", ["reason"], registry=r)
        self.fenced = Counter("docfetch_fenced", "Partitions lost to fencing or a failed commit", registry=r)
        self.partitions_lost = Counter(
            "docfetch_partitions_lost",
            "Partitions lost outside a rebalance (fenced, flush failed)",
            registry=r,
        )
        self.partitions_recovered = Counter(
            "docfetch_partitions_recovered", "Lost partitions re-acquired by this process", registry=r
        )
        self.skipped = Counter(
            "docfetch_skipped", "Jobs skipped: already terminal at this attempt", registry=r
        )
        self.event_loop_lag = Histogram(
            "docfetch_event_loop_lag_seconds",
            "How late the event loop woke a 0.25 s sleep (consumer/looplag.py)",
            buckets=LOOP_LAG_BUCKETS_S,
            registry=r,
        )

    def http_request(self, tier: Tier, code_class: str) -> None:
        self._child(self.http, tier.value, code_class).inc()

    def job_done(self, outcome: str, status: str) -> None:
        """One job's terminal record committed: `outcome` finalized or failed, `status` its Status."""
        self._child(self.jobs, outcome, status).inc()

    def _child(self, metric: Counter, *values: str) -> Counter:
        """`metric.labels(*values)`, remembered: the label values are a few enum members (tiers, code
        classes, outcomes, statuses), so the cache stays as small as the series themselves."""
        key = (id(metric), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def loop_lag(self, seconds: float) -> None:
        self.event_loop_lag.observe(seconds)

    def bytes_downloaded(self, count: int) -> None:
        self.bytes.inc(count)

    def forget_partition(self, partition: int) -> None:
        """A revoked partition's gauges stop being reported by this process."""
        for gauge in (self.lag, self.oldest_unfinished_age):
            try:
                gauge.remove(str(partition))
            except KeyError:
                continue
