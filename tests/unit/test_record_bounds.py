"""State records stay bounded whatever an origin sends: clipped texts, capped hops, a size the topic takes."""

from __future__ import annotations

import pytest

from schemas import Hop, State, StateRecord, Status, Tier, decode_state, encode
from schemas.codec import encode_state
from schemas.errors import RecordTooLarge
from schemas.messages import MAX_DETAIL_CHARS, MAX_RECORD_HOPS, MAX_RECORD_URL_CHARS
from schemas.topics import MAX_STATE_RECORD_BYTES, STATE_TOPIC_MIN_MESSAGE_BYTES, topology_problems

JOB_ID = "0" * 64


def _failed(hops: tuple[Hop, ...], **kw: object) -> StateRecord:
    fields: dict[str, object] = {
        "job_id": JOB_ID, "work_id": "W", "state": State.FAILED, "status": Status.TOO_MANY_HOPS,
        "attempt": 0, "owner": "m", "epoch": 1, "source_partition": 0, "source_offset": 0, "ts_ms": 1,
        "hops": hops, **kw,
    }  # fmt: skip
    return StateRecord(**fields)  # type: ignore[arg-type]


def _hop(n: int, chars: int) -> Hop:
    return Hop(url=f"http://o.test/{n}/" + "x" * chars, tier=Tier.OA_PDF, http_status=302, note="n" * chars)


def test_hops_are_clipped_and_capped_keeping_first_and_last() -> None:
    hops = tuple(_hop(n, 70_000) for n in range(50))
    record = _failed(hops, detail="d" * 100_000, final_url="u" * 100_000)
    assert len(record.hops) == MAX_RECORD_HOPS and record.hops_dropped == 50 - MAX_RECORD_HOPS
    assert record.hops[0].url.startswith("http://o.test/0/") and record.hops[-1].url.startswith(
        "http://o.test/49/"
    )
    assert all(len(h.url) <= MAX_RECORD_URL_CHARS for h in record.hops)
    assert record.hops[0].url.endswith("more chars]")
    assert record.detail is not None and len(record.detail) <= MAX_DETAIL_CHARS
    assert decode_state(encode(record)) == record  # clipping is idempotent: decoding changes nothing


def test_encode_state_sheds_hops_until_the_record_fits() -> None:
    record = _failed(tuple(_hop(n, 2_000) for n in range(MAX_RECORD_HOPS)))
    raw = encode_state(record, max_bytes=20_000)
    assert len(raw) <= 20_000 < len(encode(record))
    smaller = decode_state(raw)
    assert smaller.hops_dropped == MAX_RECORD_HOPS - len(smaller.hops) > 0
    assert len(encode_state(record)) <= MAX_STATE_RECORD_BYTES


def test_encode_state_refuses_a_record_that_cannot_fit() -> None:
    with pytest.raises(RecordTooLarge):
        encode_state(_failed((), work_id="w" * 50_000), max_bytes=10_000)


def test_topology_names_a_state_topic_below_the_record_bound() -> None:
    def found(limit: int | None) -> list[str]:
        return topology_problems(
            jobs_topic="j", state_topic="s", partitions={"j": 1, "s": 1}, state_cleanup_policy="compact",
            state_max_message_bytes=limit,
        )  # fmt: skip

    assert found(STATE_TOPIC_MIN_MESSAGE_BYTES) == [] and found(None) == []
    assert "max.message.bytes=1000" in found(1000)[0]
