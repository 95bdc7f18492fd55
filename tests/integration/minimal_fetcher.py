"""A minimal Fetcher: the first candidate URL, streamed into the content-addressed store.

A test double of the runtime's Fetcher boundary (tests of the Kafka side that need real downloads but not
the engine's tiers): no politeness, no private-address guard. Production uses `consumer.fetch.Engine`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from consumer.errors import StorageError, TooLarge
from consumer.outcome import FetchObserver, FetchOutcome
from consumer.storage import Store
from schemas import Finalized, Hop, JobMessage, Status

CHUNK_BYTES = 64 * 1024
_BY_CODE = {403: Status.FORBIDDEN, 404: Status.NOT_FOUND, 410: Status.NOT_FOUND, 429: Status.RATE_LIMITED}


class MinimalFetcher:
    """GET the first candidate; a 2xx non-empty body becomes an artifact, anything else a FAILED outcome."""

    def __init__(self, *, client: httpx.AsyncClient, store: Store, observer: FetchObserver) -> None:
        self._client, self._store, self._observer = client, store, observer

    async def fetch(self, job: JobMessage) -> FetchOutcome:
        candidate = job.candidates[0]
        hop = Hop(url=candidate.url, tier=candidate.tier)
        try:
            async with self._client.stream("GET", candidate.url) as response:
                self._observer.http_request(candidate.tier, f"{response.status_code // 100}xx")
                hop = Hop(url=candidate.url, tier=candidate.tier, http_status=response.status_code)
                if response.status_code >= 400:
                    return FetchOutcome(status=status_for(response.status_code), hops=(hop,))
                return await self._store_body(response, hop)
        except httpx.TimeoutException:
            return self._failed(Status.TIMEOUT, hop)
        except httpx.TransportError as exc:
            return self._failed(Status.CONNECT_ERROR, hop, detail=type(exc).__name__)
        except TooLarge:
            return FetchOutcome(status=Status.BODY_TOO_LARGE, hops=(hop,))
        except StorageError as exc:
            return FetchOutcome(status=Status.STORAGE_ERROR, hops=(hop,), detail=str(exc))

    def _failed(self, status: Status, hop: Hop, *, detail: str | None = None) -> FetchOutcome:
        self._observer.http_request(hop.tier, "error")
        return FetchOutcome(status=status, hops=(hop,), detail=detail)

    async def _store_body(self, response: httpx.Response, hop: Hop) -> FetchOutcome:
        async with self._store.writer() as writer:
            async for chunk in response.aiter_bytes(CHUNK_BYTES):
                await writer.write(chunk)
            self._observer.bytes_downloaded(writer.size)
            if writer.size == 0:
                return FetchOutcome(status=Status.EMPTY_BODY, hops=(hop,))
            ref = await writer.commit()
        mimetype = response.headers.get("content-type", "application/octet-stream").split(";")[0]
        return FetchOutcome(
            status=Status.SUCCESS, hops=(hop,), finalized=Finalized(sha256=ref.sha256, size=ref.size,
            mimetype=mimetype, final_url=str(response.url), tier=hop.tier),
        )  # fmt: skip


def status_for(code: int) -> Status:
    return _BY_CODE.get(code, Status.REMOTE_SERVER_ERROR if code >= 500 else Status.TERMINAL_BAD_STATUS)


@contextlib.asynccontextmanager
async def minimal_fetcher(
    *, store: Path, timeout_s: float, max_bytes: int, observer: FetchObserver
) -> AsyncIterator[MinimalFetcher]:
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=True, trust_env=False) as client:
        yield MinimalFetcher(client=client, store=Store(store, max_bytes=max_bytes), observer=observer)
