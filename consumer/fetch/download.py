"""Fetch one URL for a job: every hop checked (safety, robots, politeness), redirects followed by hand,
transient failures retried with jittered backoff, PDFs streamed into the store, HTML returned for parsing."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from consumer.errors import FetchFailed, StorageError, StoreFull, TooLarge
from consumer.fetch import http
from consumer.fetch.politeness import HostGate, Politeness
from consumer.fetch.robots import RobotsCache
from consumer.fetch.run import ACTIVE_RUN, JOB_WANTED, JobRun, spend_robots
from consumer.fetch.safety import Safety
from consumer.fetch.settings import EngineSettings
from consumer.fetch.validate import (
    PDF_HEAD_BYTES,
    has_pdf_eof,
    has_xml_end,
    is_pdf_head,
    looks_like_html,
    looks_like_xml,
)
from consumer.outcome import FetchObserver
from consumer.storage import ObjectRef, Store
from schemas import Status, Tier, Wanted
from schemas.messages import MAX_URL_CHARS
from schemas.status import status_for_http

CHUNK_BYTES = 64 * 1024
TRANSIENT = frozenset({Status.CONNECT_ERROR, Status.TIMEOUT, Status.RATE_LIMITED, Status.REMOTE_SERVER_ERROR})
# robots.txt files larger than this are truncated (Google reads 500 KiB).
MAX_ROBOTS_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class Page:
    """A document to parse rather than store: an HTML page or a JSON answer (Wayback availability)."""

    url: str
    html: bytes


@dataclass(frozen=True, slots=True)
class Artifact:
    url: str
    ref: ObjectRef
    mimetype: str


class Downloader:
    """Follows one URL to a PDF artifact or an HTML page, raising FetchFailed otherwise."""

    def __init__(
        self,
        *,
        settings: EngineSettings,
        client: http.Client,
        store: Store,
        safety: Safety,
        politeness: Politeness,
        observer: FetchObserver,
    ) -> None:
        self._cfg, self._client, self._store = settings, client, store
        self._safety, self._politeness, self._observer = safety, politeness, observer
        self._robots = RobotsCache(
            fetch=self._robots_txt,
            user_agent=settings.user_agent,
            ttl_s=settings.robots_ttl_s,
            max_delay_s=settings.crawl_delay_cap_s,
        )

    async def get(self, url: str, tier: Tier, run: JobRun) -> Page | Artifact:
        """Follow `url`; every request, robots.txt fetch and DNS lookup it causes is paid from `run`."""
        token = ACTIVE_RUN.set(run)
        try:
            return await self._follow_redirects(url, tier, run)
        finally:
            ACTIVE_RUN.reset(token)

    async def _follow_redirects(self, url: str, tier: Tier, run: JobRun) -> Page | Artifact:
        chain: set[str] = set()
        for _ in range(self._cfg.max_redirects + 1):
            if url in chain:
                raise FetchFailed(Status.REDIRECT_LOOP, url[:200])
            chain.add(url)
            run.visited.add(url)
            got = await self._checked_request(url, tier, run)
            if not isinstance(got, str):
                return got
            url = got
        raise FetchFailed(Status.TOO_MANY_HOPS, f"more than {self._cfg.max_redirects} redirects")

    async def _checked_request(self, url: str, tier: Tier, run: JobRun) -> Page | Artifact | str:
        self._safety.check_url(url)  # the addresses are checked where the connection is made (http.py)
        with self._politeness.held(urlsplit(url).hostname or "") as gate:
            delay_s = await self._robots.check(url, tier=tier)
            if delay_s is not None:
                gate.slow_down(at_least_s=delay_s)  # as asked: a longer one than the cap raised above
            return await self._with_retries(url, tier, run, gate)

    async def _with_retries(self, url: str, tier: Tier, run: JobRun, gate: HostGate) -> Page | Artifact | str:
        for attempt in range(self._cfg.retry_attempts):
            try:
                return await self._request(url, tier, run, gate)
            except FetchFailed as exc:
                if exc.status not in TRANSIENT or attempt + 1 >= self._cfg.retry_attempts:
                    raise
                if exc.retry_after_s is not None and exc.retry_after_s > self._cfg.retry_after_cap_s:
                    raise
                backoff_s = self._cfg.retry_backoff_s * 2**attempt * random.uniform(0.5, 1.5)
                gate.defer(max(backoff_s, exc.retry_after_s or 0.0))
        raise AssertionError("unreachable: the last attempt raises or returns")

    async def _request(self, url: str, tier: Tier, run: JobRun, gate: HostGate) -> Page | Artifact | str:
        run.spend_request()
        async with gate.slot():
            recorded = False
            try:
                async with self._client.stream("GET", url) as response:
                    gate.answered()
                    self._observer.http_request(tier, f"{response.status_code // 100}xx")
                    run.record(url, tier, response.status_code)
                    recorded = True
                    return await self._handle(response, url, gate)
            except http.InvalidURL as exc:
                raise FetchFailed(Status.INVALID_URL, str(exc)[:200]) from exc
            except http.RequestError as exc:
                gate.answered()
                gate.failed()
                if not recorded:
                    self._observer.http_request(tier, "error")
                    run.record(url, tier, None, note=type(exc).__name__)
                raise FetchFailed(http.transport_status(exc), type(exc).__name__) from exc

    async def _handle(self, response: http.Response, url: str, gate: HostGate) -> Page | Artifact | str:
        code = response.status_code
        if 300 <= code < 400 and "location" in response.headers:
            gate.succeeded()
            location = response.headers["location"]
            if len(location) > MAX_URL_CHARS:  # the bound of a job's URLs holds for every hop too
                raise FetchFailed(Status.INVALID_URL, f"Location of {len(location)} characters")
            return urljoin(url, location)
        if code >= 400 or code < 200:
            if code >= 500 or code == 429:
                gate.failed()
            retry_after_s = _retry_after_s(response.headers.get("retry-after"))
            if retry_after_s is not None:
                gate.defer(min(retry_after_s, self._cfg.retry_after_cap_s))
            raise FetchFailed(status_for_http(code), f"HTTP {code}", retry_after_s=retry_after_s)
        gate.succeeded()
        return await self._body(response, url)

    async def _body(self, response: http.Response, url: str) -> Page | Artifact:
        declared = _content_length(response)
        if declared is not None and declared > self._cfg.max_bytes:
            raise FetchFailed(Status.BODY_TOO_LARGE, f"Content-Length {declared}")
        chunks = response.aiter_bytes(CHUNK_BYTES)
        head = await self._read_head(chunks)
        if not head:
            raise FetchFailed(Status.EMPTY_BODY, url[:200])
        content_type = response.headers.get("content-type", "").lower()
        wanted = JOB_WANTED.get()
        if is_pdf_head(head):
            if wanted is not Wanted.PDF:
                raise FetchFailed(Status.WRONG_MIMETYPE, f"a PDF; the job wants {wanted}")
            ref = await self._store_artifact(head, chunks, declared)
            return Artifact(url=str(response.url), ref=ref, mimetype="application/pdf")
        if wanted is Wanted.XML and looks_like_xml(head):
            ref = await self._store_artifact(head, chunks, declared, complete=has_xml_end)
            return Artifact(url=str(response.url), ref=ref, mimetype="application/xml")
        if looks_like_html(head) or "html" in content_type or "json" in content_type:
            return Page(url=str(response.url), html=await self._read_html(head, chunks))
        raise FetchFailed(Status.WRONG_MIMETYPE, content_type or "no content-type")

    async def _read_head(self, chunks: AsyncIterator[bytes]) -> bytes:
        head = b""
        async for chunk in chunks:
            self._observer.bytes_downloaded(len(chunk))
            head += chunk
            if len(head) >= PDF_HEAD_BYTES:
                break
        return head

    async def _read_html(self, head: bytes, chunks: AsyncIterator[bytes]) -> bytes:
        body = bytearray(head)
        async for chunk in chunks:
            self._observer.bytes_downloaded(len(chunk))
            body += chunk
            if len(body) > self._cfg.max_html_bytes:
                break  # enough to find the meta tags, which live in <head>
        return bytes(body)

    async def _store_artifact(
        self,
        head: bytes,
        chunks: AsyncIterator[bytes],
        declared: int | None,
        complete: Callable[[bytes], bool] = has_pdf_eof,
    ) -> ObjectRef:
        try:
            async with self._store.writer() as writer:
                await writer.write(head)
                tail = head[-PDF_HEAD_BYTES:]
                async for chunk in chunks:
                    self._observer.bytes_downloaded(len(chunk))
                    await writer.write(chunk)
                    tail = (tail + chunk)[-PDF_HEAD_BYTES:]
                _check_complete(writer.size, declared, tail, complete)
                return await writer.commit()
        except TooLarge as exc:
            raise FetchFailed(Status.BODY_TOO_LARGE, str(exc)) from exc
        except StorageError as exc:
            raise StoreFull(str(exc)) from exc

    async def _robots_txt(self, url: str, tier: Tier) -> tuple[int, bytes]:
        """One robots.txt fetch, paid from the active job, within connect + read timeout in all (a
        dribbling robots.txt never trips the per-read timeout and would hold its origin's lock)."""
        spend_robots()
        limit_s = self._cfg.http_connect_timeout_s + self._cfg.read_timeout_s
        try:
            async with asyncio.timeout(limit_s):
                return await self._robots_exchange(url, tier)
        except TimeoutError:
            raise FetchFailed(Status.TIMEOUT, f"robots.txt: slower than {limit_s:g}s") from None

    async def _robots_exchange(self, url: str, tier: Tier) -> tuple[int, bytes]:
        with self._politeness.held(urlsplit(url).hostname or "") as gate:
            return await self._robots_request(url, tier, gate)

    async def _robots_request(self, url: str, tier: Tier, gate: HostGate) -> tuple[int, bytes]:
        async with gate.slot():
            try:
                async with self._client.stream("GET", url) as response:
                    gate.answered()
                    self._observer.http_request(tier, f"{response.status_code // 100}xx")
                    body = await self._read_capped(response)
                    return response.status_code, body
            except http.RequestError as exc:
                gate.answered()
                self._observer.http_request(tier, "error")
                raise FetchFailed(http.transport_status(exc), f"robots.txt: {type(exc).__name__}") from exc

    async def _read_capped(self, response: http.Response) -> bytes:
        body = bytearray()
        async for chunk in response.aiter_bytes(CHUNK_BYTES):
            body += chunk
            if len(body) >= MAX_ROBOTS_BYTES:
                break
        return bytes(body[:MAX_ROBOTS_BYTES])


def _check_complete(size: int, declared: int | None, tail: bytes, complete: Callable[[bytes], bool]) -> None:
    if declared is not None and size != declared:
        raise FetchFailed(Status.TRUNCATED_BODY, f"got {size} of {declared} bytes")
    if not complete(tail):
        raise FetchFailed(Status.TRUNCATED_BODY, "the document's end is missing (PDF %%EOF, XML end tag)")


def _content_length(response: http.Response) -> int | None:
    if response.headers.get("content-encoding"):
        return None  # the header counts encoded bytes; we count decoded ones
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def _retry_after_s(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: treated as absent rather than parsed (rare from origins)


__all__ = ["Artifact", "Downloader", "Page"]
