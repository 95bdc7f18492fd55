"""robots.txt policy without the network: allow on 4xx, retry later on 5xx, Crawl-delay, TTL, one fetch."""

from __future__ import annotations

import asyncio

import pytest

from consumer.errors import FetchFailed
from consumer.fetch import robots
from consumer.fetch.robots import RobotsCache
from schemas import Status, Tier

UA = "docfetch/0.1 (+mailto:ops@example.org)"
RULES = b"User-agent: *\nDisallow: /private/\nCrawl-delay: 2\n"


class _Origin:
    """Answers robots.txt fetches with a fixed status and body, counting them."""

    def __init__(self, status: int, body: bytes = b"") -> None:
        self.status, self.body, self.calls = status, body, 0

    async def __call__(self, url: str, tier: Tier) -> tuple[int, bytes]:
        assert url.endswith("/robots.txt")
        self.calls += 1
        await asyncio.sleep(0)  # let concurrent callers pile up behind the first
        return self.status, self.body


async def test_disallow_and_crawl_delay() -> None:
    cache = RobotsCache(fetch=_Origin(200, RULES), user_agent=UA, ttl_s=60)
    assert await cache.check("http://h.test/public/a.pdf", tier=Tier.OA_PDF) == 2.0
    with pytest.raises(FetchFailed) as info:
        await cache.check("http://h.test/private/a.pdf", tier=Tier.OA_PDF)
    assert info.value.status is Status.ROBOTS_DISALLOWED and not info.value.retryable


@pytest.mark.parametrize("status", [401, 403, 404, 410])
async def test_4xx_allows_everything(status: int) -> None:
    cache = RobotsCache(fetch=_Origin(status, RULES), user_agent=UA, ttl_s=60)
    assert await cache.check("http://h.test/private/a.pdf", tier=Tier.OA_PDF) is None


async def test_5xx_is_retry_later_and_not_cached() -> None:
    origin = _Origin(503)
    cache = RobotsCache(fetch=origin, user_agent=UA, ttl_s=60)
    for _ in range(2):
        with pytest.raises(FetchFailed) as info:
            await cache.check("http://h.test/a.pdf", tier=Tier.OA_PDF)
        assert info.value.status is Status.REMOTE_SERVER_ERROR and info.value.retryable
    assert origin.calls == 2


async def test_one_fetch_per_origin_within_the_ttl() -> None:
    origin = _Origin(200, RULES)
    cache = RobotsCache(fetch=origin, user_agent=UA, ttl_s=60)
    await asyncio.gather(*(cache.check(f"http://h.test/p{i}.pdf", tier=Tier.OA_PDF) for i in range(5)))
    await cache.check("http://other.test/x.pdf", tier=Tier.OA_PDF)
    assert origin.calls == 2


async def test_expired_entry_is_fetched_again() -> None:
    origin = _Origin(404)
    cache = RobotsCache(fetch=origin, user_agent=UA, ttl_s=0)
    await cache.check("http://h.test/a.pdf", tier=Tier.OA_PDF)
    await cache.check("http://h.test/b.pdf", tier=Tier.OA_PDF)
    assert origin.calls == 2


async def _check(
    body: bytes, url: str, *, user_agent: str = UA, max_delay_s: float | None = None
) -> float | None:
    cache = RobotsCache(fetch=_Origin(200, body), user_agent=user_agent, ttl_s=60, max_delay_s=max_delay_s)
    return await cache.check(url, tier=Tier.OA_PDF)


async def test_a_leading_bom_does_not_hide_the_first_group() -> None:
    with pytest.raises(FetchFailed) as info:
        await _check(b"\xef\xbb\xbfUser-agent: *\nDisallow: /images/\n", "http://h.test/images/a.png")
    assert info.value.status is Status.ROBOTS_DISALLOWED


@pytest.mark.parametrize(
    "body",
    [
        b"User-agent: docfetch\nDisallow: /x/\n",  # our product token, not the whole header
        b"User-agent: DocFetch/2.0 (compatible)\nDisallow: /x/\n",  # a group naming token + version
        b"User-agent: otherbot\nRequest-policy: whatever\nUser-agent: docfetch\nDisallow: /x/\n",
    ],
)
async def test_groups_are_matched_by_product_token(body: bytes) -> None:
    with pytest.raises(FetchFailed) as info:
        await _check(body, "http://h.test/x/a.pdf")
    assert info.value.status is Status.ROBOTS_DISALLOWED
    assert await _check(body, "http://h.test/y/a.pdf") is None


async def test_crawl_delay_is_honoured_as_asked() -> None:
    assert await _check(b"User-agent: *\nCrawl-delay: 15\n", "http://h.test/a", max_delay_s=60) == 15.0


async def test_crawl_delay_above_the_maximum_defers_the_host() -> None:
    with pytest.raises(FetchFailed) as info:
        await _check(b"User-agent: *\nCrawl-delay: 90\n", "http://h.test/a", max_delay_s=60)
    assert info.value.status is Status.RATE_LIMITED and info.value.retryable
    assert "Crawl-delay 90s" in info.value.detail


async def test_the_cache_keeps_at_most_max_origins_least_recently_used_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(robots, "MAX_ORIGINS", 3)
    origin = _Origin(200, RULES)
    cache = RobotsCache(fetch=origin, user_agent=UA, ttl_s=60)
    for n in range(10):  # a long run meets ever more hosts
        await cache.check(f"http://h{n}.test/a.pdf", tier=Tier.OA_PDF)
        await cache.check("http://kept.test/a.pdf", tier=Tier.OA_PDF)  # used all along: never evicted
    origins, _bytes, locks = cache.held()
    assert (origins, locks) == (3, 0)
    calls = origin.calls
    await cache.check("http://kept.test/b.pdf", tier=Tier.OA_PDF)
    await cache.check("http://h9.test/b.pdf", tier=Tier.OA_PDF)
    assert origin.calls == calls  # still cached
    await cache.check("http://h0.test/b.pdf", tier=Tier.OA_PDF)
    assert origin.calls == calls + 1  # evicted long ago: fetched again, as after its TTL


async def test_the_cache_keeps_at_most_max_cached_bytes_of_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    big = RULES + b"# " + b"x" * 100_000 + b"\n"
    monkeypatch.setattr(robots, "MAX_CACHED_BYTES", 350_000)
    cache = RobotsCache(fetch=_Origin(200, big), user_agent=UA, ttl_s=60)
    for n in range(20):
        assert await cache.check(f"http://h{n}.test/a.pdf", tier=Tier.OA_PDF) == 2.0
    origins, held_bytes, _locks = cache.held()
    assert origins == 3 and held_bytes <= 350_000


async def test_fetch_locks_do_not_outlive_their_checks() -> None:
    cache = RobotsCache(fetch=_Origin(200, RULES), user_agent=UA, ttl_s=60)
    urls = [f"http://h{n % 50}.test/{n}.pdf" for n in range(500)]
    await asyncio.gather(*(cache.check(u, tier=Tier.OA_PDF) for u in urls))
    assert cache.held()[2] == 0
