"""Pure logic of the engine: sniffing, landing-page links, Wayback answers, the tier plan, status mapping."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from consumer.fetch.landing import meta_refresh, pdf_link, read_page
from consumer.fetch.tiers import plan
from consumer.fetch.validate import blocked_status, has_pdf_eof, is_pdf_head, looks_like_html
from consumer.fetch.wayback import availability_url, raw_replay_url
from schemas import Candidate, JobMessage, Status, Tier
from schemas.doi import bare_doi
from schemas.status import status_for_http

BASE = "https://pub.example/article/1"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<meta name="citation_pdf_url" content="https://pub.example/a.pdf">', "https://pub.example/a.pdf"),
        ('<meta name="eprints.document_url" content="/e.pdf">', "https://pub.example/e.pdf"),
        ('<meta name="bepress_citation_pdf_url" content="b.pdf">', "https://pub.example/article/b.pdf"),
        ('<meta name="fulltext_pdf_url" content="/f.pdf">', "https://pub.example/f.pdf"),
        ('<link rel="alternate" type="application/pdf" href="/l.pdf">', "https://pub.example/l.pdf"),
        ('<a href="/files/x.pdf">Download PDF</a>', "https://pub.example/files/x.pdf"),
        ('<a href="/files/x.pdf">Supplementary table</a>', None),  # conservative: the text must say PDF
        ('<a href="/about">PDF policy</a>', None),
        ("<p>nothing here</p>", None),
    ],
)
def test_pdf_link(html: str, expected: str | None) -> None:
    assert pdf_link(f"<html><head>{html}</head></html>".encode(), base_url=BASE) == expected


def test_citation_meta_wins_over_link_heuristics() -> None:
    page = b'<meta name="citation_pdf_url" content="/m.pdf"><a href="/h.pdf">PDF</a>'
    assert pdf_link(page, base_url=BASE) == "https://pub.example/m.pdf"


def test_meta_refresh() -> None:
    page = b'<meta http-equiv="Refresh" content="0; URL=\'/next.pdf\'">'
    assert meta_refresh(page, base_url=BASE) == "https://pub.example/next.pdf"
    assert _next_url(page, base_url=BASE) == "https://pub.example/next.pdf"
    assert meta_refresh(b'<meta http-equiv="content-type" content="text/html">', base_url=BASE) is None


def test_pdf_sniffing() -> None:
    assert is_pdf_head(b"\xef\xbb\xbf junk %PDF-1.7")
    assert not is_pdf_head(b" " * 1024 + b"%PDF-1.7")
    assert has_pdf_eof(b"...%%EOF\n") and not has_pdf_eof(b"%%EOF" + b"x" * 1024)
    assert looks_like_html(b"  <!DOCTYPE html><html>") and not looks_like_html(b"%PDF-1.4")


@pytest.mark.parametrize(
    ("page", "status"),
    [
        (b"<h1>Please complete the CAPTCHA</h1>", Status.SOFT_BLOCKED),
        (b"<button>Accept all cookies</button>", Status.SOFT_BLOCKED),
        (b"<p>An ordinary abstract page.</p>", None),
    ],
)
def test_blocked_pages(page: bytes, status: Status | None) -> None:
    assert blocked_status(page) is status


def test_wayback_raw_replay() -> None:
    answer = {
        "archived_snapshots": {"closest": {"available": True, "url": "http://a/web/2020/http://x/y.pdf"}}
    }
    assert raw_replay_url(orjson.dumps(answer)) == "http://a/web/2020id_/http://x/y.pdf"
    assert raw_replay_url(b'{"archived_snapshots": {}}') is None
    assert raw_replay_url(b"not json") is None
    assert availability_url("http://a/wayback/available", "http://x/y?z=1") == (
        "http://a/wayback/available?url=http%3A%2F%2Fx%2Fy%3Fz%3D1"
    )


def _job(*candidates: tuple[Tier, str], doi: str | None = None) -> JobMessage:
    return JobMessage(
        job_id=hashlib.sha256(b"x").hexdigest(),
        doi=doi,
        candidates=tuple(Candidate(url=u, tier=t) for t, u in candidates),
        source="unit",
        seeded_at_ms=0,
    )


def test_plan_orders_tiers_routes_doi_through_the_resolver_and_dedupes() -> None:
    job = _job(
        (Tier.LANDING, "http://l/1"),
        (Tier.DOI, "https://doi.org/10.1/abc"),
        (Tier.OA_PDF, "http://p/1.pdf"),
        (Tier.REPOSITORY, "http://p/1.pdf"),
    )
    assert plan(job, resolver="http://resolver/") == [
        (Tier.OA_PDF, "http://p/1.pdf"),
        (Tier.DOI, "http://resolver/10.1/abc"),
        (Tier.LANDING, "http://l/1"),
    ]


def test_plan_adds_the_job_doi() -> None:
    job = _job((Tier.OA_PDF, "http://p/1.pdf"), doi="https://doi.org/10.5/x")
    assert plan(job, resolver="http://r") == [(Tier.OA_PDF, "http://p/1.pdf"), (Tier.DOI, "http://r/10.5/x")]
    assert bare_doi("doi:10.5/x") == bare_doi("https://dx.doi.org/10.5/x") == "10.5/x"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (404, Status.NOT_FOUND),
        (410, Status.NOT_FOUND),
        (403, Status.FORBIDDEN),
        (429, Status.RATE_LIMITED),
        (503, Status.REMOTE_SERVER_ERROR),
        (418, Status.TERMINAL_BAD_STATUS),
    ],
)
def test_status_for_http(code: int, status: Status) -> None:
    assert status_for_http(code) is status


def _next_url(html: bytes, *, base_url: str) -> str | None:
    """Where a page leads (the engine's rule): its full-text link, else its meta refresh target."""
    found = read_page(html, base_url=base_url).next
    return found.url if found else None
