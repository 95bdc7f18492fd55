"""Prometheus metrics of one consumer process (issue 6 names); also the engine's FetchObserver."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

from schemas import Tier

# Downloads range from tens of milliseconds (loopback) to the job deadline (minutes).
DURATION_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    """Every docfetch_* series on a per-instance registry (tests run several in one process)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
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
        self.commit_age = Gauge(
            "docfetch_commit_age_seconds", "Age of the oldest unfinished job", ["partition"], registry=r
        )
        self.rebalances = Counter("docfetch_rebalances", "Partition assignments received", registry=r)
        self.restore = Histogram(
            "docfetch_restore_seconds", "Time to restore one state partition", registry=r
        )
        self.http = Counter("docfetch_http_requests", "HTTP requests", ["tier", "code_class"], registry=r)
        self.bytes = Counter("docfetch_bytes_downloaded", "Body bytes downloaded", registry=r)
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

    def http_request(self, tier: Tier, code_class: str) -> None:
        self.http.labels(tier=tier.value, code_class=code_class).inc()

    def bytes_downloaded(self, count: int) -> None:
        self.bytes.inc(count)

    def forget_partition(self, partition: int) -> None:
        """A revoked partition's gauges stop being reported by this process."""
        for gauge in (self.lag, self.commit_age):
            try:
                gauge.remove(str(partition))
            except KeyError:
                continue
