"""Encoding, decoding, poison classification and the transition table."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import (
    TRANSITIONS,
    Candidate,
    Hop,
    IllegalTransition,
    JobMessage,
    PoisonMessage,
    State,
    StateRecord,
    Status,
    Tier,
    check_transition,
    decode_job,
    decode_state,
    encode,
    job_id_for_work,
    peek_state,
    peek_state_attempt,
)

JOB_ID = job_id_for_work("W1")
text = st.text(min_size=1, max_size=30)
hops = st.builds(Hop, url=text, tier=st.sampled_from(Tier), http_status=st.none() | st.integers(100, 599))
sha = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)


@st.composite
def records(draw: st.DrawFn) -> StateRecord:
    state = draw(st.sampled_from(State))
    fields: dict[str, object] = {}
    if state is State.FINALIZED:
        fields = {"status": Status.SUCCESS, "sha256": draw(sha), "size": draw(st.integers(0, 2**40))}
    elif state is State.FAILED:
        fields = {"status": draw(st.sampled_from([s for s in Status if s is not Status.SUCCESS]))}
    else:
        fields = {"status": None}
    return StateRecord(
        job_id=JOB_ID,
        work_id=draw(st.none() | text),
        state=state,
        attempt=draw(st.integers(0, 50)),
        owner=draw(text),
        epoch=draw(st.integers(-1, 10**6)),
        source_partition=draw(st.integers(0, 1000)),
        source_offset=draw(st.integers(0, 2**50)),
        ts_ms=draw(st.integers(0, 2**45)),
        hops=tuple(draw(st.lists(hops, max_size=4))),
        tier=draw(st.none() | st.sampled_from(Tier)),
        detail=draw(st.none() | text),
        **fields,  # type: ignore[arg-type]
    )


@given(records())
def test_state_records_round_trip_byte_exactly(record: StateRecord) -> None:
    raw = encode(record)
    decoded = decode_state(raw)
    assert decoded == record
    assert encode(decoded) == raw


@given(records())
def test_peek_agrees_with_full_decode(record: StateRecord) -> None:
    assert peek_state(encode(record)) == (record.job_id, record.state.value, record.attempt, record.status)


def test_state_record_json_keys_for_any_reader() -> None:
    record = StateRecord(
        job_id=JOB_ID,
        work_id="W1",
        state=State.FINALIZED,
        status=Status.SUCCESS,
        attempt=0,
        owner="m",
        epoch=1,
        source_partition=0,
        source_offset=3,
        ts_ms=1,
        sha256="a" * 64,
        size=10,
    )
    obj = orjson.loads(encode(record))
    assert {"job_id", "work_id", "state", "status", "attempt", "sha256", "size"} <= obj.keys()
    assert obj["state"] == "FINALIZED" and obj["status"] == "success"


def _job(**kw: object) -> bytes:
    base = JobMessage(
        job_id=JOB_ID,
        candidates=(Candidate(url="http://e.org/a.pdf", tier=Tier.OA_PDF),),
        source="test",
        seeded_at_ms=1,
    )
    obj = orjson.loads(encode(base))
    obj.update(kw)
    return orjson.dumps(obj)


def test_job_round_trip() -> None:
    raw = _job()
    assert encode(decode_job(raw)) == raw


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "undecodable"),
        (b"not json", "undecodable"),
        (b"[1,2]", "undecodable"),
        (None, "undecodable"),
        (_job(schema=2), "unknown-version"),
        (_job(schema="1"), "unknown-version"),
        (_job(job_id="nothex"), "schema-violation"),
        (_job(candidates=[]), "schema-violation"),
        (_job(attempt="1"), "schema-violation"),
        (_job(extra_field=1), "schema-violation"),
        (_job(candidates=[{"url": "http://x", "tier": "bogus"}]), "schema-violation"),
    ],
)
def test_poison_is_classified(raw: bytes | None, reason: str) -> None:
    with pytest.raises(PoisonMessage) as info:
        decode_job(raw)
    assert info.value.reason == reason


def test_inconsistent_records_are_refused() -> None:
    with pytest.raises(ValueError, match="FINALIZED"):
        StateRecord(
            job_id=JOB_ID,
            work_id=None,
            state=State.FINALIZED,
            status=Status.SUCCESS,
            attempt=0,
            owner="m",
            epoch=0,
            source_partition=0,
            source_offset=0,
            ts_ms=0,
        )


def test_retryable_flags() -> None:
    assert Status.TIMEOUT.retryable and Status.RATE_LIMITED.retryable
    assert not Status.NOT_FOUND.retryable and not Status.ROBOTS_DISALLOWED.retryable
    assert not Status.SUCCESS.retryable


@given(st.none() | st.sampled_from(State), st.integers(0, 5), st.sampled_from(State), st.integers(0, 5))
def test_transition_table_is_the_only_authority(
    prev: State | None, prev_attempt: int, new: State, new_attempt: int
) -> None:
    rule = TRANSITIONS.get((prev, new))
    allowed = rule is not None and (
        new_attempt > prev_attempt if rule else (prev is None or new_attempt == prev_attempt)
    )
    if allowed:
        check_transition(prev, prev_attempt, new, new_attempt)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(prev, prev_attempt, new, new_attempt)


@pytest.mark.parametrize(
    ("prev", "new"),
    [
        (None, State.FINALIZED),
        (None, State.FAILED),
        (State.FINALIZED, State.FAILED),
        (State.FAILED, State.FINALIZED),
    ],
)
def test_illegal_transitions_are_refused(prev: State | None, new: State) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(prev, 0, new, 1)


def test_requeue_needs_a_higher_attempt() -> None:
    with pytest.raises(IllegalTransition):
        check_transition(State.FAILED, 2, State.PLANNED, 2)
    check_transition(State.FAILED, 2, State.PLANNED, 3)


@given(records())
def test_byte_level_peek_agrees_with_full_decode(record: StateRecord) -> None:
    assert peek_state_attempt(encode(record)) == (record.state.value, record.attempt)


def full_record(state: State, status: Status | None) -> StateRecord:
    """A real record with every field set (none left at its default)."""
    sha256 = "ab" * 32
    record = StateRecord(
        schema_version=1, job_id=JOB_ID, work_id="W1", state=state, status=status, attempt=7,
        owner="member-1", epoch=3, source_partition=2, source_offset=41, ts_ms=1_700_000_000_000,
        sha256=sha256, size=12345, mimetype="application/pdf", final_url="https://a.example/x.pdf",
        tier=Tier.REPOSITORY, hops=(Hop(url="https://a.example/x.pdf", tier=Tier.REPOSITORY, http_status=200,
        note="ok"),), hops_dropped=1, detail="a detail",
    )  # fmt: skip
    assert record.model_fields_set == set(StateRecord.model_fields), "set the new field here too"
    return record


@pytest.mark.parametrize(
    ("state", "status"),
    [(State.FINALIZED, Status.SUCCESS), (State.FAILED, Status.NOT_FOUND), (State.PLANNED, None)],
)
def test_restore_fast_paths_match_the_record_layout(state: State, status: Status | None) -> None:
    """The restore fast paths (consumer.statestore) read bytes, not the model: a field placed between
    state, status and attempt, or a renamed one, must fail here rather than silently turn them off."""
    record = full_record(state, status)
    raw = encode(record)
    slow = decode_state(raw)
    assert slow == record
    assert peek_state_attempt(raw) == (slow.state.value, slow.attempt)
    assert peek_state(raw) == (slow.job_id, slow.state.value, slow.attempt, slow.status)


def test_byte_level_peek_ignores_lookalikes_inside_strings() -> None:
    trap = '"state":"FINALIZED","status":null,"attempt":99,'
    record = StateRecord(
        job_id=JOB_ID, work_id=trap, state=State.PLANNED, status=None, attempt=1, owner=trap,
        epoch=0, source_partition=0, source_offset=0, ts_ms=0,
    )  # fmt: skip
    assert peek_state_attempt(encode(record)) == ("PLANNED", 1)
    assert peek_state_attempt(b'{"schema":1}') is None


@pytest.mark.parametrize(("candidates", "hosts", "ok"), [(32, 32, True), (33, 33, False), (64, 2, True)])
def test_candidate_hosts_are_bounded(candidates: int, hosts: int, ok: bool) -> None:
    """At most MAX_CANDIDATE_HOSTS hosts per job, however many candidates (URLs parsed only above it)."""
    urls = [f"http://h{i % hosts}.example/{i}.pdf" for i in range(candidates)]
    make = lambda: JobMessage(  # noqa: E731
        job_id=JOB_ID, work_id="W1", source="t", seeded_at_ms=1,
        candidates=tuple(Candidate(url=u, tier=Tier.OA_PDF) for u in urls),
    )  # fmt: skip
    if ok:
        assert len(make().candidates) == candidates
    else:
        with pytest.raises(ValueError, match="hosts; at most 32"):
            make()
