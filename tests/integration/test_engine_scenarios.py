"""Every origin-farm scenario through the real Engine over loopback sockets: status, hit/miss, hops,
and for hits the stored sha256 (checked against the bytes the farm generates)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from consumer.fetch import Engine
from consumer.fetch.settings import HttpTransport
from consumer.storage import Store
from originfarm import PRIVATE_ADDRESS, Farm, make_pdf
from originfarm.pages import LANDING_VARIANTS
from schemas import Status, Tier
from tests.integration.farm_fixtures import engine_settings, make_job, origin_farm

__all__ = ["origin_farm"]

A, R, D, L = Tier.OA_PDF, Tier.REPOSITORY, Tier.DOI, Tier.LANDING
DOI = "https://doi.org/10.5555/"
# No Wayback lookup follows these: the URL is unusable, or the job's deadline is spent.
NO_LOOKUP = (Status.INVALID_URL, Status.BLOCKED_PRIVATE_ADDRESS, Status.BUDGET_EXHAUSTED)


@dataclass(frozen=True)
class Case:
    name: str
    candidates: tuple[tuple[Tier, str, str], ...]  # (tier, farm host or "" for a literal URL, path or URL)
    status: Status
    hops: tuple[int | None, ...]  # the HTTP status of each hop, in order (the archive lookup added below)
    tier: Tier | None = None  # the winning tier of a hit
    body: tuple[str, int] | None = None  # make_pdf(name, size) that a hit must have stored
    settings: dict[str, object] = field(default_factory=dict)


CASES = [
    Case("oa-pdf", ((A, "pdfs", "/pdf/30000/a.pdf"),), Status.SUCCESS, (200,), A, ("a.pdf", 30000)),
    Case("repository", ((R, "repo", "/pdf/25000/r.pdf"),), Status.SUCCESS, (200,), R, ("r.pdf", 25000)),
    Case(
        "oa-404-then-repository",
        # oa_pdf and repository share one rank (schemas.TIER_RANK): tried in the order the job lists them
        ((A, "pdfs", "/status/404/x.pdf"), (R, "repo", "/pdf/21000/r2.pdf")),
        Status.SUCCESS,
        (404, 200),
        R,
        ("r2.pdf", 21000),
    ),
    Case(
        "redirect-chain",
        ((A, "pdfs", "/redirect/3/pdf/20000/c.pdf"),),
        Status.SUCCESS,
        (302, 302, 302, 302, 200),
        A,
        ("c.pdf", 20000),
    ),
    Case(
        "cross-host-redirect",
        ((A, "pdfs", "/offsite/repo/pdf/20000/o.pdf"),),
        Status.SUCCESS,
        (302, 200),
        A,
        ("o.pdf", 20000),
    ),
    Case(
        "too-many-redirects",
        ((A, "pdfs", "/redirect/5/pdf/20000/c.pdf"),),
        Status.TOO_MANY_HOPS,
        (302,) * 4,
        settings={"max_redirects": 3},
    ),
    Case("redirect-loop", ((A, "pdfs", "/loop/a"),), Status.REDIRECT_LOOP, (302, 302)),
    Case("not-found", ((A, "pdfs", "/status/404/n.pdf"),), Status.NOT_FOUND, (404,)),
    Case("gone", ((A, "pdfs", "/status/410/g.pdf"),), Status.NOT_FOUND, (410,)),
    Case("forbidden", ((A, "pdfs", "/status/403/f.pdf"),), Status.FORBIDDEN, (403,)),
    Case(
        "server-error-retried",
        ((A, "pdfs", "/status/500/e.pdf"),),
        Status.REMOTE_SERVER_ERROR,
        (500, 500, 500),
    ),
    Case(
        "rate-limited-retry-after-above-cap", ((A, "pdfs", "/status/429/l.pdf"),), Status.RATE_LIMITED, (429,)
    ),
    Case(
        "flaky-recovers",
        ((A, "pdfs", "/flaky/2/k.pdf"),),
        Status.SUCCESS,
        (503, 503, 200),
        A,
        ("k.pdf", 20000),
    ),
    Case("flaky-gives-up", ((A, "pdfs", "/flaky/5/k.pdf"),), Status.REMOTE_SERVER_ERROR, (503, 503, 503)),
    Case("slow-drip", ((A, "pdfs", "/slow/s.pdf"),), Status.SUCCESS, (200,), A, ("s.pdf", 20000)),
    Case(
        "stalled-body",
        ((A, "pdfs", "/stall/t.pdf"),),
        Status.TIMEOUT,
        (200, 200),
        settings={"retry_attempts": 2, "read_timeout_s": 0.3},
    ),
    Case(
        "deadline",
        ((A, "pdfs", "/slow/d.pdf"),),
        Status.BUDGET_EXHAUSTED,
        (200,),
        settings={"job_deadline_s": 0.2},
    ),
    Case("truncated", ((A, "pdfs", "/truncated/u.pdf"),), Status.TRUNCATED_BODY, (200,)),
    Case("no-eof", ((A, "pdfs", "/no-eof/u.pdf"),), Status.TRUNCATED_BODY, (200,)),
    Case("html-as-pdf", ((A, "pdfs", "/html-as-pdf/h.pdf"),), Status.WRONG_MIMETYPE, (200,)),
    Case("empty", ((A, "pdfs", "/empty/e.pdf"),), Status.EMPTY_BODY, (200,)),
    Case("soft-block", ((A, "pdfs", "/softblock/b.pdf"),), Status.SOFT_BLOCKED, (200,)),
    Case("cookie-wall", ((A, "pdfs", "/cookiewall/w.pdf"),), Status.SOFT_BLOCKED, (200,)),
    Case("hostile-refresh", ((A, "pdfs", "/hostile-refresh/h"),), Status.WRONG_MIMETYPE, (200,)),
    Case("hostile-nesting", ((A, "pdfs", "/hostile-nesting/h"),), Status.WRONG_MIMETYPE, (200,)),
    Case("meta-refresh", ((A, "pdfs", "/meta-refresh/m"),), Status.SUCCESS, (200, 200), A, ("m.pdf", 20000)),
    Case(
        "too-large",
        ((A, "pdfs", "/pdf/200000/big.pdf"),),
        Status.BODY_TOO_LARGE,
        (200,),
        settings={"max_bytes": 100_000},
    ),
    Case("doi-direct", ((D, "", DOI + "direct.q1"),), Status.SUCCESS, (302, 200), D, ("q1.pdf", 30000)),
    Case("doi-unknown", ((D, "", DOI + "gone.q2"),), Status.NOT_FOUND, (404,)),
    Case("landing-none", ((L, "publisher", "/article/none/z"),), Status.NO_PDF_LINK, (200,)),
    Case(
        "landing-heuristic",
        ((L, "publisher", "/article/heuristic/z"),),
        Status.SUCCESS,
        (200, 200),
        L,
        ("z.pdf", 50000),
    ),
    Case(
        "archive-replay",
        ((A, "pdfs", "/status/404/archived-1.pdf"),),
        Status.SUCCESS,
        (404, 200, 200),
        Tier.ARCHIVE,
    ),
    Case("robots-disallow", ((A, "strict", "/private/p.pdf"),), Status.ROBOTS_DISALLOWED, ()),
    Case("robots-allow", ((A, "strict", "/public/q.pdf"),), Status.SUCCESS, (200,), A, ("q.pdf", 20000)),
    Case(
        "robots-crawl-delay-above-maximum",
        ((A, "strict", "/public/d.pdf"),),
        Status.RATE_LIMITED,
        (),
        settings={"crawl_delay_cap_s": 0.1},
    ),
    Case("robots-5xx", ((A, "robots5xx", "/pdf/20000/p.pdf"),), Status.REMOTE_SERVER_ERROR, ()),
    Case(
        "private-literal", ((A, "", f"http://{PRIVATE_ADDRESS}:9/x.pdf"),), Status.BLOCKED_PRIVATE_ADDRESS, ()
    ),
    Case("redirect-to-private", ((A, "pdfs", "/to-private/x.pdf"),), Status.BLOCKED_PRIVATE_ADDRESS, (302,)),
    Case(
        "name-resolving-to-loopback-refused",
        ((A, "", "http://localhost:9/x.pdf"),),
        Status.BLOCKED_PRIVATE_ADDRESS,
        (),
        settings={"allow_private_hosts": False},
    ),
    Case("connection-refused", ((A, "", "http://127.0.0.11:1/x.pdf"),), Status.CONNECT_ERROR, ()),
    Case("not-http", ((A, "", "ftp://127.0.0.11/x.pdf"),), Status.INVALID_URL, ()),
    Case(
        "loopback-refused-by-default",
        ((A, "pdfs", "/pdf/20000/a.pdf"),),
        Status.BLOCKED_PRIVATE_ADDRESS,
        (),
        settings={"allow_private_hosts": False},
    ),
]
LINKING_VARIANTS = [v for v in LANDING_VARIANTS if v != "none"]  # "none" is the miss below
CASES += [
    Case(
        f"doi-landing-{v}",
        ((D, "", f"{DOI}{v}.v{i}"),),
        Status.SUCCESS,
        (302, 200, 200),
        L,
        (f"v{i}.pdf", 50000),
    )
    for i, v in enumerate(LINKING_VARIANTS)
]
CASES += [
    # A cookie banner and a reCAPTCHA key beside citation_pdf_url: a landing page, not a soft block.
    Case(
        "doi-landing-cookie-banner", ((D, "", DOI + "cookie-banner.c1"),), Status.SUCCESS, (302, 200, 200), L
    ),
]
CASES += [Case("doi-landing-none", ((D, "", DOI + "none.v9"),), Status.NO_PDF_LINK, (302, 200))]


def _url(farm: Farm, host: str, path: str) -> str:
    return farm.url(host, path) if host else path


def _read(path: Path) -> bytes:
    return path.read_bytes()


@pytest.mark.parametrize("transport", [t.value for t in HttpTransport])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_scenario(case: Case, transport: str, origin_farm: Farm, tmp_path: Path) -> None:
    """Both transports give every scenario the same outcome (statuses, hops, bytes)."""
    settings = engine_settings(origin_farm, http_transport=transport, **case.settings)
    store = Store(tmp_path, max_bytes=settings.max_bytes)
    job = make_job(*((tier, _url(origin_farm, host, path)) for tier, host, path in case.candidates))
    async with Engine(settings=settings, store=store) as engine:
        outcome = await engine.fetch(job)
    assert outcome.status is case.status, outcome
    lookup = () if outcome.ok or case.status in NO_LOOKUP else (200,)  # Wayback: "not archived"
    assert tuple(hop.http_status for hop in outcome.hops) == case.hops + lookup, outcome.hops
    assert outcome.ok is (case.status is Status.SUCCESS)
    if not outcome.ok:
        assert outcome.finalized is None
        assert not (tmp_path / "sha256").exists()
        return
    found = outcome.finalized
    assert found is not None and found.tier is case.tier
    assert found.sha256 is not None
    stored = _read(store.path_for(found.sha256))
    assert hashlib.sha256(stored).hexdigest() == found.sha256 and found.size == len(stored)
    if case.body is not None:
        assert stored == make_pdf(*case.body)
    assert found.final_url == outcome.hops[-1].url
