"""The consumer's exposition: renamed metrics under their new names only, restore buckets reaching hours."""

from __future__ import annotations

from prometheus_client import generate_latest

from consumer.metrics import Metrics


def test_renamed_metrics_and_restore_buckets() -> None:
    metrics = Metrics()
    metrics.bytes_downloaded(10)
    metrics.oldest_unfinished_age.labels(partition="0").set(5)
    metrics.restore.observe(5400)  # a 90-minute restore
    text = generate_latest(metrics.registry).decode()
    assert "docfetch_downloaded_bytes_total 10.0" in text
    assert 'docfetch_oldest_unfinished_job_age_seconds{partition="0"} 5.0' in text
    assert "docfetch_bytes_downloaded" not in text and "docfetch_commit_age" not in text
    assert 'docfetch_restore_seconds_bucket{le="3600.0"} 0.0' in text
    assert 'docfetch_restore_seconds_bucket{le="7200.0"} 1.0' in text
