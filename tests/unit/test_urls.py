"""schemas.canonical_url, one case per failure class of issue 12 item 6 (fixtures written here)."""

from __future__ import annotations

import pytest

from schemas import InvalidURL, canonical_url, job_id_for_url


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("https://e.org/p?q=%c3%a9", "https://e.org/p?q=%C3%A9"),  # escape case in the query
        ("https://e.org/%c3%a9", "https://e.org/%C3%A9"),  # ... and in the path
        ("https://e.org/caf\u00e9?q=\u00e9", "https://e.org/caf%C3%A9?q=%C3%A9"),  # raw non-ASCII
        ("https://e.org/a b?q=a b", "https://e.org/a%20b?q=a%20b"),  # raw spaces
        ("http:\\\\e.org\\a\\b", "http://e.org/a/b"),  # backslashes, as a browser reads them
        ("http:////e.org/a", "http://e.org/a"),
        ("https://fa\u00df.example/", "https://xn--fa-hia.example/"),  # IDNA 2008: ß is kept
        ("https://B\u00dcCHER.example/", "https://xn--bcher-kva.example/"),  # UTS 46 mapping
        ("http://0x7f.1/", "http://127.0.0.1/"),  # WHATWG IPv4 spellings
        ("http://[0:0::1]:80/", "http://[::1]/"),
        ("HTTP://E.org:80/./a/../b#frag", "http://e.org/b"),
        ("https://u:@e.org/", "https://u@e.org/"),
    ],
)
def test_spellings_of_one_url_get_one_key(one: str, other: str) -> None:
    assert canonical_url(one) == canonical_url(other)
    assert job_id_for_url(one) == job_id_for_url(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("https://fa\u00df.example/", "https://fass.example/"),  # IDNA 2003 merged these
        ("https://e.org/p?a=1&b=2", "https://e.org/p?b=2&a=1"),  # the query is never reordered
        ("https://e.org/p?q=%2F", "https://e.org/p?q=/"),  # a reserved escape stays an escape
        ("https://u@e.org/", "https://e.org/"),
        ("http://e.org:8080/", "http://e.org/"),
    ],
)
def test_distinct_urls_keep_distinct_keys(one: str, other: str) -> None:
    assert canonical_url(one) != canonical_url(other)


@pytest.mark.parametrize(
    "url",
    [
        "http://e xample.org/",
        "http://e\x00xample.org/",
        "http://exa<mple.org/",
        "http://exa|mple.org/",
        "http://exa%20mple.org/",  # percent-decoded before the check, as browsers do
        "http://[::%31]/",
        "http://1.2.3.4.5/",
        "http://0x100000000/",
        "http://e.org:65536/",
        "http://xn--a.example/",  # a broken A-label
        "ftp://e.org/",
        "http:///",
    ],
)
def test_invalid_urls_are_rejected(url: str) -> None:
    with pytest.raises(InvalidURL):
        canonical_url(url)


def test_a_seed_line_with_a_bad_host_is_rejected_as_invalid_url() -> None:
    from producer.commands.urllist import job_from_line
    from producer.errors import RejectedLine

    with pytest.raises(RejectedLine) as caught:
        job_from_line("W1,http://exa|mple.org/a.pdf", seeded_at_ms=0)
    assert caught.value.reason == "invalid-url"
