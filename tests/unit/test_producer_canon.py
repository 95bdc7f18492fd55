"""The fast path of schemas.canonical_url agrees with the full algorithm (schemas.full_canonical_url)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import InvalidURL, full_canonical_url
from schemas import canonical_url as canonical
from schemas.urls import _ALREADY_CANONICAL

SEGMENT = st.text(alphabet="abcXYZ019-._~%2F:@;=/?#.", max_size=12)
HOST = st.sampled_from(
    ["example.org", "a-b.example.org", "EXAMPLE.org", "x", "xn--bcher-kva.de", "ex.org.",
     # a numeric last label makes the host an IPv4 address (or an invalid one): never the fast path
     "a.123", "1.2.3.4", "12", "a.0x1f", "a.0x", "0x", "a.00", "a.b1", "a.1b", "a.0xg", "a.x0", "a.1-2"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(scheme=st.sampled_from(["http", "https", "HTTP"]), host=HOST, rest=st.lists(SEGMENT, max_size=4))
def test_fast_path_matches_the_full_canonicalisation(scheme: str, host: str, rest: list[str]) -> None:
    url = f"{scheme}://{host}/" + "/".join(rest)
    try:
        expected = full_canonical_url(url)
    except InvalidURL:
        with pytest.raises(InvalidURL):
            canonical(url)
        return
    assert canonical(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/a/./b",
        "https://example.org/a/../b",
        "https://example.org/a/..",
        "https://Example.org/a",
        "https://example.org:443/a",
        "https://example.org",
        "https://example.org/a%7e",
        "https://example.org/a#frag",
        "https://example.org/a?",
    ],
)
def test_non_canonical_urls_take_the_full_path(url: str) -> None:
    assert canonical(url) == full_canonical_url(url)


def test_plain_urls_take_the_fast_path() -> None:
    url = "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC123/pdf?download=1&x=%20"
    assert _ALREADY_CANONICAL.match(url)
    assert canonical(url) == full_canonical_url(url) == url
