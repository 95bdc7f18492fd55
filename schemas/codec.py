"""orjson encoding of the contracts, and decoding that classifies bad bytes as poison."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from schemas.errors import PoisonMessage, RecordTooLarge
from schemas.messages import SCHEMA_VERSION, JobMessage, StateRecord
from schemas.topics import MAX_STATE_RECORD_BYTES

M = TypeVar("M", bound=BaseModel)
SUPPORTED_VERSIONS = frozenset({SCHEMA_VERSION})


def encode(model: BaseModel) -> bytes:
    """Compact JSON with the wire names (``schema`` for the version)."""
    return orjson.dumps(model.model_dump(mode="json", by_alias=True))


def encode_state(record: StateRecord, *, max_bytes: int = MAX_STATE_RECORD_BYTES) -> bytes:
    """`encode(record)` within `max_bytes`: fewer hops (first and last kept), then no detail, if need be."""
    raw = encode(record)
    limit = len(record.hops)
    while len(raw) > max_bytes and limit > 0:
        limit //= 2
        record = record.with_hops_at_most(limit)
        raw = encode(record)
    if len(raw) > max_bytes and record.detail is not None:
        raw = encode(record.model_copy(update={"detail": f"detail dropped: record above {max_bytes} bytes"}))
    if len(raw) > max_bytes:
        raise RecordTooLarge(f"state record of job {record.job_id} is {len(raw)} bytes, above {max_bytes}")
    return raw


def _load_object(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        raise PoisonMessage("undecodable", "empty value (tombstone or null)")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PoisonMessage("undecodable", f"not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise PoisonMessage("undecodable", f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _decode(model: type[M], raw: bytes | None) -> M:
    obj = _load_object(raw)
    version = obj.get("schema")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:  # true and 1.0 equal 1
        raise PoisonMessage("unknown-version", f"schema version {version!r} is not supported")
    try:
        return model.model_validate_json(raw or b"", strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise PoisonMessage("schema-violation", f"{where}: {first['msg']}") from None


def decode_job(raw: bytes | None) -> JobMessage:
    return _decode(JobMessage, raw)


def decode_state(raw: bytes | None) -> StateRecord:
    return _decode(StateRecord, raw)


def peek_state(raw: bytes) -> tuple[str, str, int, str | None]:
    """Fast path for restores: (job_id, state, attempt, status) without full validation."""
    obj = orjson.loads(raw)
    return obj["job_id"], obj["state"], obj["attempt"], obj["status"]


# `encode` writes StateRecord fields in declaration order, so state, status and attempt are adjacent. Inside
# a JSON string every quote is escaped, so this cannot match the content of another field.
_STATE_ATTEMPT = re.compile(rb'"state":"([A-Z]+)","status":(?:null|"[a-z-]+"),"attempt":(\d+)[,}]')


def peek_state_attempt(raw: bytes) -> tuple[str, int] | None:
    """Fastest path for restores: (state, attempt) found in the bytes, or None (then use peek_state)."""
    found = peek_state_attempt_bytes(raw)
    return None if found is None else (found[0].decode("ascii"), int(found[1]))


def peek_state_attempt_bytes(raw: bytes) -> tuple[bytes, bytes] | None:
    """(state, attempt digits) as bytes, or None. The first `"state":"` is the record's own field (the
    fields before it are a number and strings, whose quotes are escaped): the pattern is matched there only,
    which is faster than a search through the record."""
    at = raw.find(b'"state":"')
    match = _STATE_ATTEMPT.match(raw, at) if at >= 0 else None
    return None if match is None else (match[1], match[2])
