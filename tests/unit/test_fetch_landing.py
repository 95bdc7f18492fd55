"""Landing pages written here, one per failure class of issues 11 and 12: hostile refresh values and
nesting cost bounded time, a page with a PDF link is never called soft-blocked, and a cited
reference's PDF is never taken for the article's."""

from __future__ import annotations

import time

import pytest

from consumer.fetch.download import Page
from consumer.fetch.engine import classify_page
from consumer.fetch.landing import MAX_BLOCK_DEPTH, SCAN_CHUNK_BYTES, bounded_html, read_page
from consumer.fetch.refresh import refresh_target
from schemas import Status

BASE = "https://journal.example/article/7"
# A generous bound on a noisy 2-core machine; the old regex took 13 s (1,600) and 105 s (3,200).
HOSTILE_PARSE_S = 0.05


@pytest.mark.parametrize("spaces", [1600, 3200])
def test_refresh_of_spaces_parses_in_linear_time(spaces: int) -> None:
    page = b'<meta http-equiv=refresh content="' + b" " * spaces + b'">'
    started = time.perf_counter()
    links = read_page(page, base_url=BASE)
    assert time.perf_counter() - started < HOSTILE_PARSE_S
    assert links.refresh is None and links.full_text is None


@pytest.mark.parametrize(
    ("content", "target"),
    [
        ("0; url=/next.pdf", "/next.pdf"),
        ("5;URL='/q.pdf'", "/q.pdf"),
        ('1 ; url = "/r.pdf" ignored', "/r.pdf"),
        ("0, https://other.example/x", "https://other.example/x"),
        ("  3  ", None),
        ("", None),
    ],
)
def test_refresh_target(content: str, target: str | None) -> None:
    assert refresh_target(content) == target


def test_overlong_attribute_values_are_ignored() -> None:
    page = b'<meta name="citation_pdf_url" content="/' + b"a" * 5000 + b'.pdf">'
    assert read_page(page, base_url=BASE).full_text is None


def test_deep_nesting_is_cut_before_the_tree_builder() -> None:
    page = b'<meta name="citation_pdf_url" content="/a.pdf">' + b"<div>" * 400_000
    assert len(bounded_html(page)) < 6 * (MAX_BLOCK_DEPTH + 2) + 60
    started = time.perf_counter()
    found = read_page(page, base_url=BASE).full_text
    assert time.perf_counter() - started < 2.0  # uncapped: minutes
    assert found is not None and found.url == "https://journal.example/a.pdf"


def test_ordinary_nesting_is_kept_whole() -> None:
    page = b"<div><section>" * 50 + b"</section></div>" * 50 + b"<div></div>" * 10_000
    assert bounded_html(page) == page


COOKIE_BANNER = (
    b'<head><meta name="citation_pdf_url" content="https://journal.example/a7.pdf"></head><body>'
    b'<div id="onetrust-banner-sdk">We value your privacy. <button>Accept all cookies</button></div>'
    b'<div data-recaptchaKey="6Lc">captcha</div></body>'
)


def test_a_page_with_a_pdf_link_is_a_landing_page_whatever_banner_it_carries() -> None:
    found = classify_page(Page(url=BASE, html=COOKIE_BANNER))
    assert not isinstance(found, Status) and found is not None
    assert found.url == "https://journal.example/a7.pdf" and found.rule == "meta:citation_pdf_url"


def test_markers_decide_when_no_link_is_found() -> None:
    wall = b"<body><h1>We value your privacy</h1><button>Accept all cookies</button></body>"
    assert classify_page(Page(url=BASE, html=wall)) is Status.SOFT_BLOCKED
    assert classify_page(Page(url=BASE, html=b"<p>An abstract.</p>")) is None


@pytest.mark.parametrize(
    "body",
    [
        # A reference list entry: the link text is the cited URL or a whole citation.
        '<ol class="references"><li><a href="/files/other.pdf">PDF</a></li></ol>',
        '<p>See <a href="https://data.other.example/report.pdf">https://data.other.example/report.pdf</a></p>',
        '<a href="https://github.com/x/raw/White%20Paper.pdf">Crowdsourcing for Humanities Research</a>',
        '<div id="cited-by"><a href="/x/9.pdf">Download PDF</a></div>',
        '<a href="https://elsewhere.example/a.pdf">Download PDF</a>',  # another site
        '<a href="/files/x.pdf">Supplementary table</a>',
        '<a href="/about">PDF policy</a>',
    ],
)
def test_heuristic_never_takes_someone_elses_pdf(body: str) -> None:
    assert read_page(f"<html><body>{body}</body></html>".encode(), base_url=BASE).full_text is None


@pytest.mark.parametrize(
    ("body", "url"),
    [
        ('<a class="btn" href="/files/a7.pdf">Download PDF</a>', "https://journal.example/files/a7.pdf"),
        ('<a href="https://cdn.journal.example/a7.pdf">PDF</a>', "https://cdn.journal.example/a7.pdf"),
        (
            '<a href="/lingbuzz/7/current.pdf?_s=x">pdf</a>',
            "https://journal.example/lingbuzz/7/current.pdf?_s=x",
        ),
    ],
)
def test_heuristic_takes_the_articles_own_download_link(body: str, url: str) -> None:
    found = read_page(f"<html><body>{body}</body></html>".encode(), base_url=BASE).full_text
    assert found is not None and found.url == url and found.rule == "heuristic:download-link"


@pytest.mark.parametrize("shift", range(0, 14, 3))
def test_depth_scan_counts_tags_across_chunk_boundaries(shift: int) -> None:
    pad = b"x" * (SCAN_CHUNK_BYTES - 2 - shift)  # puts a <div> or </div> across the chunk edge
    page = pad + b"<div></div>" * 10 + b"<div>" * (MAX_BLOCK_DEPTH + 1) + b"tail"
    cut = bounded_html(page)
    assert cut.count(b"<div>") - cut.count(b"</div>") == MAX_BLOCK_DEPTH
    assert cut.endswith(b"<div>") and page.startswith(cut)


def test_depth_scan_ignores_case() -> None:
    page = b"<DIV>" * (MAX_BLOCK_DEPTH + 5)
    assert len(bounded_html(page)) == 5 * MAX_BLOCK_DEPTH
