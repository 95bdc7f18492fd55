"""OffsetTracker: the committable offset is the contiguous finished prefix, whatever the finish order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consumer.offsets import OffsetTracker


def test_nothing_taken_means_nothing_to_commit() -> None:
    assert OffsetTracker().committable is None


def test_a_running_job_holds_back_every_offset_above_it() -> None:
    tracker = OffsetTracker()
    for offset in (10, 11, 12):
        tracker.take(offset)
    tracker.finish(12)
    tracker.finish(11)
    assert tracker.committable == 10
    tracker.finish(10)
    assert tracker.committable == 13


def test_gaps_in_the_log_need_no_special_case() -> None:
    tracker = OffsetTracker()
    tracker.take(5)
    tracker.take(9)  # 6..8 were transaction markers or compacted away
    tracker.finish(5)
    assert tracker.committable == 9
    tracker.finish(9)
    assert tracker.committable == 10


def test_a_redelivered_offset_is_not_taken_twice() -> None:
    tracker = OffsetTracker()
    assert tracker.take(3)
    tracker.finish(3)
    assert not tracker.take(2)
    assert not tracker.take(3)
    assert tracker.committable == 4


def test_progress_is_the_prefix_moving_not_any_finish() -> None:
    tracker = OffsetTracker()
    tracker.take(0)
    tracker.take(1)
    before = tracker.last_progress_s
    tracker.finish(1)
    assert tracker.last_progress_s == before
    tracker.finish(0)
    assert tracker.last_progress_s >= before
    assert tracker.oldest_open_age_s() == 0.0


@given(st.permutations(list(range(30))), st.integers(0, 30))
def test_committable_is_the_lowest_unfinished_offset(order: list[int], finished: int) -> None:
    tracker = OffsetTracker()
    for offset in range(30):
        tracker.take(100 + offset)
    for offset in order[:finished]:
        tracker.finish(100 + offset)
    unfinished = set(range(30)) - set(order[:finished])
    assert tracker.committable == 100 + min(unfinished, default=30)
