"""Parsers of remote bytes never raise, whatever the origin sends (hypothesis)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.fetch.landing import read_page
from consumer.fetch.validate import blocked_status, is_pdf_head, looks_like_html
from consumer.fetch.wayback import raw_replay_url
from schemas import Status

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
TAGS = st.sampled_from(
    [
        b"<meta name='citation_pdf_url' content='",
        b"<a href='",
        b"<link rel=alternate type=application/pdf href=",
        b"<meta http-equiv=refresh content='0;url=",
        b"'>",
        b"</a>",
        b"PDF",
        b"%PDF-",
        b"<html>",
        b"\x00",
        b"\xff",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(TAGS | st.binary(max_size=20), max_size=20))
def test_html_parsing_never_raises(parts: list[bytes]) -> None:
    page = b"".join(parts)
    found = _next_url(page, base_url="https://pub.example/a/b")
    assert found is None or isinstance(found, str)
    assert blocked_status(page) in (None, Status.SOFT_BLOCKED)
    assert isinstance(is_pdf_head(page), bool) and isinstance(looks_like_html(page), bool)


@settings(max_examples=200, deadline=None)
@given(JSONISH)
def test_wayback_answers_never_raise(answer: object) -> None:
    replay = raw_replay_url(json.dumps({"archived_snapshots": {"closest": answer}}).encode())
    assert replay is None or "id_" in replay or "/web/" not in replay
    assert raw_replay_url(json.dumps(answer).encode()) is None or isinstance(answer, dict)


def _next_url(html: bytes, *, base_url: str) -> str | None:
    """Where a page leads (the engine's rule): its full-text link, else its meta refresh target."""
    found = read_page(html, base_url=base_url).next
    return found.url if found else None
