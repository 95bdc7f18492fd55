"""The latest (state, attempt) of every job of one partition: how a state record reads, and the in-memory
store (a dict) used when no persistent store is at hand (`statedir.PartitionStore` is the persistent one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import orjson

from schemas import State, peek_state, peek_state_attempt

_STATES = {s.value: s for s in State}  # a dict lookup is several times cheaper than State(value)


class Undecodable(Exception):
    """A state record that is not one (counted, skipped)."""


def decode_record(key: bytes | None, raw: bytes | None) -> tuple[str, tuple[State, int] | None] | None:
    """(job id, latest) of one state record; latest None for a tombstone (the operator deleted the job's
    state: it is pending again); None for a tombstone without a key. Undecodable when not a state record."""
    if raw is None:
        return None if key is None else (key.decode("ascii", "replace"), None)
    fast = peek_state_attempt(raw) if key is not None else None
    try:
        if fast is not None and fast[0] in _STATES:  # the key is the job id (DESIGN §2)
            return key.decode("ascii", "replace"), (_STATES[fast[0]], fast[1])  # type: ignore[union-attr]
        job_id, state, attempt, _status = peek_state(raw)
        return job_id, (_STATES[state], attempt)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise Undecodable from None


class JobStates(Protocol):
    """What jobs need of a partition's state: StateStore (memory) or statedir.PartitionStore (disk)."""

    undecodable: int

    def apply(self, key: bytes | None, raw: bytes | None) -> None: ...
    def set(self, job_id: str, state: State, attempt: int) -> None: ...
    def get(self, job_id: str) -> tuple[State, int] | None: ...


@dataclass
class StateStore:
    """The latest (state, attempt) of every job of one partition, in memory."""

    latest: dict[str, tuple[State, int]] = field(default_factory=dict)
    undecodable: int = 0

    def apply(self, key: bytes | None, raw: bytes | None) -> None:
        try:
            decoded = decode_record(key, raw)
        except Undecodable:
            self.undecodable += 1
            return
        if decoded is None:
            return
        job_id, latest = decoded
        if latest is None:
            self.latest.pop(job_id, None)
        else:
            self.latest[job_id] = latest

    def set(self, job_id: str, state: State, attempt: int) -> None:
        self.latest[job_id] = (state, attempt)

    def get(self, job_id: str) -> tuple[State, int] | None:
        return self.latest.get(job_id)
