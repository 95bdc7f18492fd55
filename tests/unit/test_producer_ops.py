"""status summary, requeue planning and the helpers behind them (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from producer.commands.inspection import artifact_path
from producer.commands.requeue import Already, Decision, Requeue, Selection, plan, selected_statuses
from producer.commands.status import summarize
from producer.errors import ConfigError
from producer.jobview import format_age, is_pending, parse_duration_s
from producer.statereader import JobsSnapshot, StateSnapshot
from schemas import JobMessage, State, Status, job_id_for_work
from tests.integration.statefix import job, record


def snapshots() -> tuple[StateSnapshot, JobsSnapshot]:
    state, jobs = StateSnapshot(), JobsSnapshot(end_offsets={0: 3, 1: 2})
    for w in ("W1", "W2", "W3", "W4"):
        jobs.jobs[job_id_for_work(w)] = job(w)
    jobs.jobs[job_id_for_work("W5")] = job("W5", attempt=1)  # requeued after a FAILED attempt 0
    for rec in (
        record("W1", State.FINALIZED),
        record("W2", State.FAILED, status=Status.TIMEOUT, ts_ms=100),
        record("W3", State.PLANNED, ts_ms=50),
        record("W5", State.FAILED, status=Status.NOT_FOUND),
    ):
        state.add(rec)
    return state, jobs


def test_summarize_counts_pending_lag_and_oldest() -> None:
    state, jobs = snapshots()
    report = summarize(state, jobs, {0: 1}, now_ms=61_000)
    assert report.states == {"PLANNED": 1, "FINALIZED": 1, "FAILED": 2}
    assert report.statuses == {"timeout": 1, "not-found": 1}
    assert report.pending == 2  # W4 (no record) and W5 (requeued)
    assert [(p.partition, p.committed, p.lag) for p in report.partitions] == [(0, 1, 2), (1, None, 2)]
    assert report.oldest_unfinished_age_s == 60.0  # seeded_at_ms 1000 of the test jobs


def test_pending_needs_a_higher_attempt_than_the_terminal_record() -> None:
    assert is_pending(job("W1"), None)
    assert not is_pending(job("W1"), record("W1", State.FAILED, status=Status.TIMEOUT))
    assert is_pending(job("W1", attempt=1), record("W1", State.FAILED, status=Status.TIMEOUT))
    assert not is_pending(job("W1", attempt=1), record("W1", State.PLANNED, attempt=1))


def requeued(decisions: Iterable[Decision]) -> list[JobMessage]:
    return [d.message for d in decisions if isinstance(d, Requeue)]


def test_plan_takes_named_statuses_and_skips_already_requeued() -> None:
    state, jobs = snapshots()
    sel = Selection(
        statuses=frozenset({Status.TIMEOUT, Status.NOT_FOUND}), force_final=False, older_than_ms=None
    )
    todo = list(plan(state, jobs, sel, now_ms=7))
    assert [(j.work_id, j.attempt, j.seeded_at_ms) for j in requeued(todo)] == [("W2", 1, 7)]
    assert [d for d in todo if isinstance(d, Already)] == [Already(job_id_for_work("W5"))]


def test_plan_force_final_and_age() -> None:
    state, jobs = snapshots()
    finals = plan(
        state, jobs, Selection(statuses=frozenset(), force_final=True, older_than_ms=None), now_ms=0
    )
    assert [j.work_id for j in requeued(finals)] == ["W1"]
    young = Selection(statuses=frozenset({Status.TIMEOUT}), force_final=False, older_than_ms=100)
    assert requeued(plan(state, jobs, young, now_ms=0)) == []  # its record is at ts 100, not older


def test_selected_statuses_default_is_retryable() -> None:
    default = selected_statuses(None)
    assert Status.TIMEOUT in default and Status.NOT_FOUND not in default
    assert selected_statuses(["not-found"]) == {Status.NOT_FOUND}
    with pytest.raises(ConfigError, match="valid"):
        selected_statuses(["nope"])


def test_durations_ages_and_artifact_paths() -> None:
    assert parse_duration_s("90s") == 90 and parse_duration_s("1.5h") == 5400
    with pytest.raises(ConfigError):
        parse_duration_s("2 weeks")
    assert format_age(3725) == "1h02m" and format_age(59) == "0m59s" and format_age(90000) == "1d01h"
    digest = "ab" + "cd" + "0" * 60
    assert artifact_path(digest, store="/s") == f"/s/sha256/ab/cd/{digest}"
