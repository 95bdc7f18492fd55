"""Every field of a job message is bounded and exactly typed at decode: hostile bytes become poison."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from schemas import PoisonMessage, decode_job, encode
from schemas.messages import (
    MAX_ATTEMPT,
    MAX_CANDIDATE_HOSTS,
    MAX_CANDIDATES,
    MAX_DOI_CHARS,
    MAX_SOURCE_CHARS,
    MAX_URL_CHARS,
    MAX_WORK_ID_CHARS,
)


def _job(**fields: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "schema": 1,
        "job_id": "a" * 64,
        "work_id": "W1",
        "doi": "10.5555/x",
        "candidates": [{"url": "https://example.org/a.pdf", "tier": "oa_pdf"}],
        "source": "openalex",
        "seeded_at_ms": 1,
        "attempt": 0,
    }
    job.update(fields)
    return job


def _poison(job: dict[str, Any]) -> PoisonMessage:
    with pytest.raises(PoisonMessage) as info:
        decode_job(orjson.dumps(job))
    return info.value


def _url(host: str, length: int = 30) -> dict[str, str]:
    base = f"https://{host}/"
    return {"url": base + "a" * max(1, length - len(base)), "tier": "oa_pdf"}


@pytest.mark.parametrize(
    ("name", "limit"),
    [("work_id", MAX_WORK_ID_CHARS), ("doi", MAX_DOI_CHARS), ("source", MAX_SOURCE_CHARS)],
)
def test_string_fields_are_capped(name: str, limit: int) -> None:
    assert getattr(decode_job(orjson.dumps(_job(**{name: "x" * limit}))), name) == "x" * limit
    assert _poison(_job(**{name: "x" * (limit + 1)})).reason == "schema-violation"
    assert _poison(_job(**{name: "x" * 10_000_000})).reason == "schema-violation"  # the 10 MB of issue 11


def test_url_length_is_capped() -> None:
    decode_job(orjson.dumps(_job(candidates=[_url("example.org", MAX_URL_CHARS)])))
    assert _poison(_job(candidates=[_url("example.org", MAX_URL_CHARS + 1)])).reason == "schema-violation"


@pytest.mark.parametrize("version", [True, 1.0, "1", 2, None])
def test_schema_version_is_the_integer_one(version: object) -> None:
    assert _poison(_job(schema=version)).reason == "unknown-version"


@pytest.mark.parametrize("char", ["\x00", "\r", "\n", "\x1b", "\x7f"])
def test_control_characters_in_urls_and_labels_are_refused(char: str) -> None:
    assert _poison(_job(candidates=[{"url": f"https://example.org/a{char}.pdf", "tier": "oa_pdf"}]))
    assert _poison(_job(work_id=f"W1{char}"))
    assert _poison(_job(source=f"openalex{char}"))


@pytest.mark.parametrize("attempt", [-1, MAX_ATTEMPT + 1, 2**64])
def test_attempt_is_a_31_bit_count(attempt: int) -> None:
    raw = orjson.dumps(_job()).replace(b'"attempt":0', b'"attempt":' + str(attempt).encode())
    with pytest.raises(PoisonMessage):
        decode_job(raw)
    job = decode_job(orjson.dumps(_job(attempt=MAX_ATTEMPT)))
    assert decode_job(encode(job)).attempt == MAX_ATTEMPT  # the bound still encodes


def test_seeded_at_past_64_bits_is_refused() -> None:
    raw = orjson.dumps(_job()).replace(b'"seeded_at_ms":1', b'"seeded_at_ms":18446744073709551616')
    with pytest.raises(PoisonMessage):
        decode_job(raw)


@pytest.mark.parametrize(("field", "value"), [("attempt", True), ("attempt", 1.0), ("seeded_at_ms", "1")])
def test_types_are_exact(field: str, value: object) -> None:
    assert _poison(_job(**{field: value})).reason == "schema-violation"


def test_ten_thousand_candidates_are_poison_quickly() -> None:
    raw = orjson.dumps(_job(candidates=[_url(f"h{i}.example.org") for i in range(10_000)]))
    started = time.monotonic()
    with pytest.raises(PoisonMessage) as info:
        decode_job(raw)
    assert info.value.reason == "schema-violation" and "candidates" in info.value.detail
    assert time.monotonic() - started < 5.0  # generous: ~20 ms on the 2-core test machine


def test_candidate_count_and_distinct_hosts_are_capped() -> None:
    same_host = [_url("example.org", 30 + i) for i in range(MAX_CANDIDATES)]
    assert len(decode_job(orjson.dumps(_job(candidates=same_host))).candidates) == MAX_CANDIDATES
    assert _poison(_job(candidates=[*same_host, _url("example.org", 200)]))
    many_hosts = [_url(f"h{i}.example.org") for i in range(MAX_CANDIDATE_HOSTS + 1)]
    assert "hosts" in _poison(_job(candidates=many_hosts)).detail
    decode_job(orjson.dumps(_job(candidates=many_hosts[:MAX_CANDIDATE_HOSTS])))


def test_seed_lines_past_the_bounds_are_rejected_not_fatal() -> None:
    from producer.commands.jobmapping import map_openalex, map_urls, outcome

    long_work = outcome(b"W" + b"1" * 300 + b",https://example.org/a.pdf", 3, map_urls)
    assert long_work[0] == "reject" and long_work[2] == "out-of-bounds" and "work_id" in long_work[3]
    locations = [{"pdf_url": f"https://h{i}.example.org/a.pdf"} for i in range(100)]
    work = orjson.dumps({"id": "W1", "locations": locations})
    many = outcome(work, 4, map_openalex)
    assert many[0] == "reject" and many[2] == "out-of-bounds" and "candidates" in many[3]
