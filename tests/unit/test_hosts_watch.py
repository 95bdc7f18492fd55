"""The bounded host counter (space-saving) and the --watch progress line: pure logic."""

from __future__ import annotations

import datetime

from producer.commands.hosts import SpaceSaving, add_record, host_of
from producer.commands.statuswatch import Sample, progress_line, rate_per_s
from schemas import Hop, State, Status, Tier, encode
from tests.integration.statefix import record


def test_exact_below_capacity() -> None:
    counter = SpaceSaving(10)
    for i in range(30):
        counter.add(f"h{i % 3}", failed=i % 2 == 0, size=10, status="success", ts_ms=i)
    top = counter.top(2, by="jobs")
    assert [(s.host, s.jobs, s.error) for s in top] == [("h0", 10, 0), ("h1", 10, 0)]
    assert counter.hosts["h0"].failures == 5 and counter.hosts["h0"].bytes == 100


def test_a_heavy_host_survives_a_long_tail_of_distinct_hosts() -> None:
    counter = SpaceSaving(8)
    for i in range(10_000):
        host = "big.example" if i % 4 == 0 else f"tail{i}.example"
        counter.add(host, failed=False, size=1, status="success", ts_ms=i)
    assert len(counter.hosts) == 8  # the bound
    (first,) = counter.top(1, by="jobs")
    assert first.host == "big.example"
    assert first.jobs - first.error <= 2_500 <= first.jobs  # the true count lies within the error bound


def test_last_status_is_the_newest_records() -> None:
    counter = SpaceSaving(4)
    counter.add("h", failed=True, size=0, status="timeout", ts_ms=20)
    counter.add("h", failed=False, size=5, status="success", ts_ms=10)  # older, read later
    assert counter.hosts["h"].last_status == "timeout"


def test_host_of_final_url_else_last_hop() -> None:
    final = record("W1", State.FINALIZED).model_copy(update={"final_url": "https://Repo.Example/x.pdf"})
    failed = record("W2", State.FAILED, status=Status.NOT_FOUND).model_copy(
        update={
            "hops": (
                Hop(url="https://a.example/1", tier=Tier.OA_PDF),
                Hop(url="https://b.example/2", tier=Tier.DOI),
            )
        }
    )
    assert host_of(final.model_dump()) == "repo.example"
    assert host_of(failed.model_dump()) == "b.example"
    counter = SpaceSaving(4)
    for raw in (encode(final), encode(failed), encode(record("W3", State.PLANNED)), b"not json"):
        add_record(counter, raw)
    assert counter.records == 2 and counter.hosts["b.example"].failures == 1


def _sample(at_s: float, finalized: int, failed: int, running: int, pending: int) -> Sample:
    return Sample(at_s=at_s, jobs=finalized + failed + running + pending, finalized=finalized, failed=failed,
                  running=running, pending=pending)  # fmt: skip


def test_progress_line_has_rate_and_eta() -> None:
    wall = datetime.datetime(2026, 12, 1, 21, 40, 5, tzinfo=datetime.UTC)
    first, now = _sample(100.0, 0, 0, 0, 1000), _sample(110.0, 90, 10, 50, 850)
    assert rate_per_s(first, now) == 10.0
    assert progress_line(first, now, wall=wall) == (
        "21:40:05 done 100/1000 (10.0%) finalized=90 failed=10 running=50 pending=850 "
        "rate=10.0 jobs/s ETA 1m30s"
    )
    assert progress_line(first, first, wall=wall).endswith("rate=- jobs/s ETA -")
