"""A minimal Fetcher until the download engine lands: the first candidate URL, streamed into the
content-addressed store (temp file, hashed while streaming, fsync, atomic rename; DESIGN §4)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from consumer.outcome import FetchObserver, FetchOutcome
from schemas import Hop, JobMessage, Status

CHUNK_BYTES = 64 * 1024


def object_path(store: Path, sha256: str) -> Path:
    return store / "sha256" / sha256[:2] / sha256[2:4] / sha256


class MinimalFetcher:
    """GET the first candidate; a 2xx non-empty body becomes an artifact, anything else a FAILED outcome."""

    def __init__(
        self, *, client: httpx.AsyncClient, store: Path, max_bytes: int, observer: FetchObserver
    ) -> None:
        self._client, self._store, self._max_bytes, self._observer = client, store, max_bytes, observer

    async def fetch(self, job: JobMessage) -> FetchOutcome:
        candidate = job.candidates[0]
        hop = Hop(url=candidate.url, tier=candidate.tier)
        try:
            async with self._client.stream("GET", candidate.url) as response:
                self._observer.http_request(candidate.tier, f"{response.status_code // 100}xx")
                hop = Hop(url=candidate.url, tier=candidate.tier, http_status=response.status_code)
                if response.status_code >= 400:
                    return FetchOutcome(status=_status_for(response.status_code), hops=(hop,))
                return await self._store_body(response, hop)
        except httpx.TimeoutException:
            return self._failed(Status.TIMEOUT, hop)
        except httpx.TransportError as exc:
            return self._failed(Status.CONNECT_ERROR, hop, detail=type(exc).__name__)
        except OSError as exc:
            return FetchOutcome(status=Status.STORAGE_ERROR, hops=(hop,), detail=str(exc))

    def _failed(self, status: Status, hop: Hop, *, detail: str | None = None) -> FetchOutcome:
        self._observer.http_request(hop.tier, "error")
        return FetchOutcome(status=status, hops=(hop,), detail=detail)

    async def _store_body(self, response: httpx.Response, hop: Hop) -> FetchOutcome:
        digest, size = hashlib.sha256(), 0
        self._store.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._store, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in response.aiter_bytes(CHUNK_BYTES):
                    size += len(chunk)
                    if size > self._max_bytes:
                        return FetchOutcome(status=Status.BODY_TOO_LARGE, hops=(hop,))
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            self._observer.bytes_downloaded(size)
            if size == 0:
                return FetchOutcome(status=Status.EMPTY_BODY, hops=(hop,))
            final = object_path(self._store, digest.hexdigest())
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)  # same name = same content, so replacing an existing object is harmless
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        mimetype = response.headers.get("content-type", "application/octet-stream").split(";")[0]
        return FetchOutcome(
            status=Status.SUCCESS,
            hops=(hop,),
            sha256=digest.hexdigest(),
            size=size,
            mimetype=mimetype,
            final_url=str(response.url),
            tier=hop.tier,
        )


def _status_for(code: int) -> Status:
    return {
        403: Status.FORBIDDEN,
        404: Status.NOT_FOUND,
        410: Status.NOT_FOUND,
        429: Status.RATE_LIMITED,
    }.get(code, Status.REMOTE_SERVER_ERROR if code >= 500 else Status.TERMINAL_BAD_STATUS)


@contextlib.asynccontextmanager
async def minimal_fetcher(
    *, store: Path, timeout_s: float, max_bytes: int, observer: FetchObserver
) -> AsyncIterator[MinimalFetcher]:
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=True, trust_env=False) as client:
        yield MinimalFetcher(client=client, store=store, max_bytes=max_bytes, observer=observer)
