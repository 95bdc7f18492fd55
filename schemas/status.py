"""Job states, the one transition table, and the status vocabulary (after sandcrawler's)."""

from __future__ import annotations

from enum import StrEnum

from schemas.errors import IllegalTransition


class State(StrEnum):
    PLANNED = "PLANNED"
    FINALIZED = "FINALIZED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self is not State.PLANNED


class Status(StrEnum):
    """Why a job ended as it did; `retryable` says whether a later attempt may succeed."""

    SUCCESS = "success"
    NO_PDF_LINK = "no-pdf-link"
    WRONG_MIMETYPE = "wrong-mimetype"
    EMPTY_BODY = "empty-body"
    BODY_TOO_LARGE = "body-too-large"
    TRUNCATED_BODY = "truncated-body"
    SOFT_BLOCKED = "soft-blocked"
    ROBOTS_DISALLOWED = "robots-disallowed"
    BLOCKED_PRIVATE_ADDRESS = "blocked-private-address"
    REDIRECT_LOOP = "redirect-loop"
    TOO_MANY_HOPS = "too-many-hops"
    TERMINAL_BAD_STATUS = "terminal-bad-status"
    NOT_FOUND = "not-found"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate-limited"
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect-error"
    REMOTE_SERVER_ERROR = "remote-server-error"
    BUDGET_EXHAUSTED = "budget-exhausted"
    STORAGE_ERROR = "storage-error"
    INVALID_URL = "invalid-url"
    POISON_MESSAGE = "poison-message"
    INTERNAL_ERROR = "internal-error"  # an unexpected exception inside a job (a bug): worth another try
    # The broker refused the job's state record (larger than the state topic's max.message.bytes).
    RECORD_TOO_LARGE = "record-too-large"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


# Transient conditions: the same job may succeed later without any change to its input.
_RETRYABLE = frozenset(
    {
        Status.TRUNCATED_BODY,
        Status.RATE_LIMITED,
        Status.TIMEOUT,
        Status.CONNECT_ERROR,
        Status.REMOTE_SERVER_ERROR,
        Status.BUDGET_EXHAUSTED,
        Status.STORAGE_ERROR,
        Status.INTERNAL_ERROR,
    }
)

# (from, to) -> whether the attempt number must grow. `None` is "no record yet" (pending).
# PLANNED -> PLANNED at the same attempt is a new owner taking over after a crash or rebalance.
TRANSITIONS: dict[tuple[State | None, State], bool] = {
    (None, State.PLANNED): False,
    (State.PLANNED, State.PLANNED): False,
    (State.PLANNED, State.FINALIZED): False,
    (State.PLANNED, State.FAILED): False,
    (State.FINALIZED, State.PLANNED): True,
    (State.FAILED, State.PLANNED): True,
}


def check_transition(prev_state: State | None, prev_attempt: int, new_state: State, new_attempt: int) -> None:
    """Raise IllegalTransition unless the table allows prev -> new with these attempt numbers."""
    needs_higher = TRANSITIONS.get((prev_state, new_state))
    if needs_higher is None:
        raise IllegalTransition(f"{prev_state or 'pending'} -> {new_state} is not a transition")
    if needs_higher and new_attempt <= prev_attempt:
        raise IllegalTransition(
            f"{prev_state} -> {new_state} needs an attempt above {prev_attempt}, got {new_attempt}"
        )
    if not needs_higher and prev_state is not None and new_attempt != prev_attempt:
        raise IllegalTransition(
            f"{prev_state} -> {new_state} keeps the attempt {prev_attempt}, got {new_attempt}"
        )


def status_for_http(code: int) -> Status:
    """The status of a final non-2xx HTTP response."""
    if code in (404, 410):
        return Status.NOT_FOUND
    if code in (401, 403):
        return Status.FORBIDDEN
    if code == 429:
        return Status.RATE_LIMITED
    if code >= 500:
        return Status.REMOTE_SERVER_ERROR
    return Status.TERMINAL_BAD_STATUS
