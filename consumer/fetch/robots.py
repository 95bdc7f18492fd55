"""robots.txt per origin via protego, cached with a TTL (4xx = allow all; 5xx/timeout = retry later).

The cache is bounded, whatever the number of origins a long run meets: at most MAX_ORIGINS entries and
MAX_CACHED_BYTES of robots.txt bodies (the parsed rules grow with the body), least recently used first
out; an origin evicted and met again has its robots.txt fetched again, as after its TTL.

Two small pre-steps bring protego to RFC 9309 where it departs: the body is decoded as `utf-8-sig` (a
leading BOM once hid Frontiers' first group), and each `User-agent:` value is cut to its product token
(`FOO BAR` names the crawler `FOO`), the token we match too: `docfetch`, not the whole User-Agent header.
A Crawl-delay is honoured as asked; one above the operator's maximum defers the host's jobs
(`rate-limited`, retryable) rather than fetching faster than the site asked.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from consumer.errors import FetchFailed
from schemas import Status, Tier

# Fetches a robots.txt URL for a request of a tier: (HTTP status, body). Raises FetchFailed on failure.
RobotsFetch = Callable[[str, Tier], Awaitable[tuple[int, bytes]]]
# The keys protego reads (with the misspellings it forgives); other `key:` lines are dropped before it.
KNOWN_KEYS = frozenset(
    {"user-agent", "useragent", "user agent", "allow", "disallow", "dissallow", "dissalow", "disalow"}
    | {"diasllow", "disallaw", "crawl-delay", "crawl delay", "sitemap", "sitemaps", "site-map", "host"}
    | {"request-rate", "request rate", "visit-time", "visit time"}
)
# RFC 9309 §2.2.1: a product token is [a-zA-Z_-]+; anything after it on a User-agent line is ignored.
_PRODUCT_TOKEN = re.compile(r"[A-Za-z_-]+|\*")
MAX_ORIGINS = 16_384  # cached robots.txt answers
MAX_CACHED_BYTES = 32 * 1024 * 1024  # of their bodies (each at most download.MAX_ROBOTS_BYTES)
ENTRY_OVERHEAD_BYTES = 512  # counted per entry on top of its body: an allow-all one is not free


def product_token(user_agent: str) -> str:
    """`docfetch` of `docfetch/0.1 (+mailto:...)`: what robots.txt groups name."""
    found = _PRODUCT_TOKEN.match(user_agent.strip())
    return found.group(0) if found else user_agent


def parse_rules(body: bytes) -> Protego:
    """protego over the body decoded as UTF-8 (BOM skipped), User-agent values cut to product tokens,
    and `key: value` lines of unknown keys left out: RFC 9309 lets them stand inside a group, where
    protego would let one end the group's run of User-agent lines."""
    lines = body.decode("utf-8-sig", "replace").splitlines()
    return Protego.parse("\n".join(_token_only(line) for line in lines if _known(line)))


def _known(line: str) -> bool:
    key, colon, _ = line.split("#", 1)[0].partition(":")
    return not colon or key.strip().lower() in KNOWN_KEYS


def _token_only(line: str) -> str:
    key, colon, value = line.partition(":")
    if not colon or key.strip().lower() != "user-agent":
        return line
    value = value.split("#", 1)[0].strip()
    found = _PRODUCT_TOKEN.match(value)
    return f"User-agent: {found.group(0) if found else value}"


@dataclass(frozen=True, slots=True)
class _Entry:
    rules: Protego | None  # None = allow everything
    expires_s: float
    weight: int = ENTRY_OVERHEAD_BYTES  # what it counts against MAX_CACHED_BYTES


@dataclass(slots=True)
class _Loading:
    """One origin's fetch lock and how many checks use it (dropped when none does)."""

    lock: asyncio.Lock
    users: int = 0


class RobotsCache:
    """Answers `allowed(url)` from cached robots.txt, fetching it once per origin per TTL."""

    def __init__(
        self, *, fetch: RobotsFetch, user_agent: str, ttl_s: float, max_delay_s: float | None = None
    ) -> None:
        self._fetch, self._ttl_s, self._max_delay_s = fetch, ttl_s, max_delay_s
        self._user_agent = product_token(user_agent)
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()
        self._cached_bytes = 0
        self._loading: dict[str, _Loading] = {}

    async def check(self, url: str, *, tier: Tier) -> float | None:
        """Raise ROBOTS_DISALLOWED when robots.txt forbids `url`, RATE_LIMITED when its Crawl-delay is above
        the operator's maximum; else return the Crawl-delay (s) to honour, if any."""
        entry = await self._entry(url, tier)
        if entry.rules is None:
            return None
        if not entry.rules.can_fetch(url, self._user_agent):
            raise FetchFailed(Status.ROBOTS_DISALLOWED, url[:200])
        delay = entry.rules.crawl_delay(self._user_agent)
        if delay is None:
            return None
        if self._max_delay_s is not None and float(delay) > self._max_delay_s:
            raise FetchFailed(
                Status.RATE_LIMITED,
                f"robots.txt Crawl-delay {float(delay):g}s > maximum {self._max_delay_s:g}s; deferred",
            )
        return float(delay)

    async def _entry(self, url: str, tier: Tier) -> _Entry:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        async with self._exclusive(origin):  # one fetch per origin, the others wait for it
            entry = self._entries.get(origin)
            if entry is not None and entry.expires_s >= time.monotonic():
                self._entries.move_to_end(origin)
                return entry
            entry = await self._load(origin, tier)
            self._keep(origin, entry)
        return entry

    @contextlib.asynccontextmanager
    async def _exclusive(self, origin: str) -> AsyncIterator[None]:
        loading = self._loading.get(origin)
        if loading is None:
            loading = self._loading[origin] = _Loading(asyncio.Lock())
        loading.users += 1
        try:
            async with loading.lock:
                yield
        finally:
            loading.users -= 1
            if loading.users == 0:
                del self._loading[origin]

    def _keep(self, origin: str, entry: _Entry) -> None:
        old = self._entries.pop(origin, None)
        if old is not None:
            self._cached_bytes -= old.weight
        self._entries[origin] = entry
        self._cached_bytes += entry.weight
        while len(self._entries) > MAX_ORIGINS or self._cached_bytes > MAX_CACHED_BYTES:
            _origin, evicted = self._entries.popitem(last=False)
            self._cached_bytes -= evicted.weight

    def held(self) -> tuple[int, int, int]:
        """(origins cached, their bytes, fetch locks alive): what stays bounded over a long run."""
        return len(self._entries), self._cached_bytes, len(self._loading)

    async def _load(self, origin: str, tier: Tier) -> _Entry:
        status, body = await self._fetch(origin + "/robots.txt", tier)
        expires_s = time.monotonic() + self._ttl_s
        if status >= 500:
            raise FetchFailed(Status.REMOTE_SERVER_ERROR, f"robots.txt answered {status}; retry later")
        if status >= 400 or not body:
            return _Entry(rules=None, expires_s=expires_s)
        return _Entry(rules=parse_rules(body), expires_s=expires_s, weight=ENTRY_OVERHEAD_BYTES + len(body))
