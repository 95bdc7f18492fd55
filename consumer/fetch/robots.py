"""robots.txt per origin via protego, cached with a TTL (4xx = allow all; 5xx/timeout = retry later)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from consumer.fetch.errors import FetchFailed
from schemas import Status, Tier

# Fetches a robots.txt URL for a request of a tier: (HTTP status, body). Raises FetchFailed on failure.
RobotsFetch = Callable[[str, Tier], Awaitable[tuple[int, bytes]]]


@dataclass(frozen=True, slots=True)
class _Entry:
    rules: Protego | None  # None = allow everything
    expires_s: float


class RobotsCache:
    """Answers `allowed(url)` from cached robots.txt, fetching it once per origin per TTL."""

    def __init__(self, *, fetch: RobotsFetch, user_agent: str, ttl_s: float) -> None:
        self._fetch, self._user_agent, self._ttl_s = fetch, user_agent, ttl_s
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Lock] = {}

    async def check(self, url: str, *, tier: Tier) -> float | None:
        """Raise ROBOTS_DISALLOWED when robots.txt forbids `url`; return the Crawl-delay (s) if any."""
        entry = await self._entry(url, tier)
        if entry.rules is None:
            return None
        if not entry.rules.can_fetch(url, self._user_agent):
            raise FetchFailed(Status.ROBOTS_DISALLOWED, url[:200])
        delay = entry.rules.crawl_delay(self._user_agent)
        return float(delay) if delay is not None else None

    async def _entry(self, url: str, tier: Tier) -> _Entry:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        async with self._loading.setdefault(origin, asyncio.Lock()):  # one fetch per origin, others wait
            entry = self._entries.get(origin)
            if entry is None or entry.expires_s < time.monotonic():
                entry = await self._load(origin, tier)
                self._entries[origin] = entry
        return entry

    async def _load(self, origin: str, tier: Tier) -> _Entry:
        status, body = await self._fetch(origin + "/robots.txt", tier)
        expires_s = time.monotonic() + self._ttl_s
        if status >= 500:
            raise FetchFailed(Status.REMOTE_SERVER_ERROR, f"robots.txt answered {status}; retry later")
        if status >= 400 or not body:
            return _Entry(rules=None, expires_s=expires_s)
        return _Entry(rules=Protego.parse(body.decode("utf-8", "replace")), expires_s=expires_s)
