"""The per-job decisions: skip, re-plan, plan a requeue; and the settings refusal message."""

from __future__ import annotations

import pytest

from consumer.errors import ConfigError
from consumer.jobs import Placed, plan_attempt, state_record
from consumer.outcome import FetchOutcome
from consumer.settings import Guarantee, consumer_settings
from consumer.statestore import StateStore
from schemas import Candidate, Finalized, Hop, JobMessage, State, Status, Tier, encode, job_id
from tests.integration.statefix import record

JOB_ID = job_id(work_id="W1", url=None)


def message(attempt: int) -> JobMessage:
    return JobMessage(
        job_id=JOB_ID, work_id="W1", candidates=(Candidate(url="https://a.example/x.pdf", tier=Tier.OA_PDF),),
        source="test", seeded_at_ms=1, attempt=attempt,
    )  # fmt: skip


def store_with(state: State | None, attempt: int = 0) -> StateStore:
    store = StateStore()
    if state is not None:
        store.set(JOB_ID, state, attempt)
    return store


@pytest.mark.parametrize(
    ("state", "stored", "msg", "expected"),
    [
        (None, 0, 0, 0),  # pending: plan at the message's attempt
        (State.FINALIZED, 0, 0, None),  # terminal at the same attempt: skip, no I/O
        (State.FAILED, 2, 1, None),  # terminal above the message: skip
        (State.FINALIZED, 0, 1, 1),  # requeue above the terminal attempt: redo
        (State.PLANNED, 3, 0, 3),  # a crashed owner's plan: redo at its attempt
        (State.PLANNED, 0, 2, 2),  # a requeue supersedes an abandoned lower plan
    ],
)
def test_plan_attempt(state: State | None, stored: int, msg: int, expected: int | None) -> None:
    assert plan_attempt(store_with(state, stored), message(msg)) == expected


def test_restore_applies_latest_record_and_counts_garbage() -> None:
    store = StateStore()
    store.apply(JOB_ID.encode(), encode(record("W1", State.PLANNED)))
    store.apply(JOB_ID.encode(), encode(record("W1", State.FINALIZED)))
    store.apply(b"raw", b"not json")
    assert store.get(JOB_ID) == (State.FINALIZED, 0)
    assert store.undecodable == 1
    store.apply(JOB_ID.encode(), None)  # a tombstone: the operator deleted it, pending again
    assert store.get(JOB_ID) is None


def test_bad_setting_names_the_environment_variable() -> None:
    with pytest.raises(ConfigError, match="DOCFETCH_CONCURRENCY"):
        consumer_settings({"concurrency": 0})
    assert consumer_settings({"guarantee": "at-least-once"}).guarantee is Guarantee.AT_LEAST_ONCE


def test_a_success_outcome_gives_its_finalized_fields_to_the_record() -> None:
    finalized = Finalized(sha256="cd" * 32, size=9, mimetype="application/pdf",
                          final_url="https://a.example/x.pdf", tier=Tier.OA_PDF)  # fmt: skip
    assert finalized.model_fields_set == set(Finalized.model_fields), "set the new field here too"
    hop = Hop(url="https://a.example/x.pdf", tier=Tier.OA_PDF, http_status=200)
    outcome = FetchOutcome(status=Status.SUCCESS, hops=(hop,), finalized=finalized)
    at = Placed(partition=0, offset=5, epoch=2, owner="member-1", sink=None, store=None)  # type: ignore[arg-type]
    record = state_record(message(1), at, None, attempt=1, outcome=outcome)  # type: ignore[arg-type]
    assert record.state is State.FINALIZED and record.hops == (hop,)
    assert {name: getattr(record, name) for name in Finalized.model_fields} == dict(finalized)
    failed = state_record(message(1), at, None, attempt=1, outcome=FetchOutcome(status=Status.TIMEOUT))  # type: ignore[arg-type]
    assert failed.state is State.FAILED and {getattr(failed, n) for n in Finalized.model_fields} == {None}
