"""The error tree of the engine: every failure carries the status slug the job ends with."""

from __future__ import annotations

from schemas import Status


class FetchFailed(Exception):
    """One URL (or the job) failed for `status`; `retryable` comes from the status vocabulary."""

    def __init__(self, status: Status, detail: str = "", *, retry_after_s: float | None = None) -> None:
        super().__init__(f"{status}: {detail}" if detail else str(status))
        self.status = status
        self.detail = detail
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        return self.status.retryable


class StoreFull(FetchFailed):
    """The artifact store refused a write: the whole job stops (the runtime pauses intake)."""

    def __init__(self, detail: str) -> None:
        super().__init__(Status.STORAGE_ERROR, detail)


def status_for_http(code: int) -> Status:
    """The status of a final non-2xx response."""
    if code in (404, 410):
        return Status.NOT_FOUND
    if code in (401, 403):
        return Status.FORBIDDEN
    if code == 429:
        return Status.RATE_LIMITED
    if code >= 500:
        return Status.REMOTE_SERVER_ERROR
    return Status.TERMINAL_BAD_STATUS
