"""Job ids and URL canonicalisation (DESIGN §2)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import InvalidURL, canonical_url, job_id, job_id_for_url, job_id_for_work

hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){1,2}", fullmatch=True)
segments = st.lists(
    st.one_of(st.just("."), st.just(".."), st.from_regex(r"[A-Za-z0-9._~%-]{0,8}", fullmatch=True)),
    max_size=6,
)
queries = st.from_regex(r"[a-z0-9=&%]{0,12}", fullmatch=True)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    host = draw(hosts)
    host = "".join(c.upper() if draw(st.booleans()) else c for c in host)
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    path = "/" + "/".join(draw(segments))
    query = draw(queries)
    frag = draw(st.sampled_from(["", "#x", "#page=2"]))
    return f"{scheme}://{host}{port}{path}{'?' + query if query else ''}{frag}"


@given(urls())
def test_canonicalisation_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


@given(urls())
def test_equivalent_spellings_share_a_job_id(url: str) -> None:
    assert job_id_for_url(url) == job_id_for_url(canonical_url(url))
    assert job_id_for_url(url + ("" if "#" in url else "#frag")) == job_id_for_url(url)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("HTTP://Example.COM/a", "http://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/", "https://example.com"),
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
        ("http://example.com/%7euser", "http://example.com/~user"),
        ("http://example.com/a%2fb", "http://example.com/a%2Fb"),
        ("http://example.com/x#section", "http://example.com/x"),
        ("https://bücher.de/x", "https://xn--bcher-kva.de/x"),
    ],
)
def test_equivalent_urls(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


def test_query_order_is_kept_and_its_escapes_normalised() -> None:
    assert canonical_url("http://e.org/p?B=2&a=%7e&c=%c3%a9") == "http://e.org/p?B=2&a=~&c=%C3%A9"
    assert job_id_for_url("http://e.org/p?a=1&b=2") != job_id_for_url("http://e.org/p?b=2&a=1")


def test_job_id_is_stable_across_runs() -> None:
    # The formula itself, spelled out: a change here re-keys every job ever seeded.
    expected = hashlib.sha256(b'{"v":1,"work":"W2741809807"}').hexdigest()
    assert job_id_for_work("W2741809807") == expected
    expected_url = hashlib.sha256(b'{"url":"http://e.org/a.pdf","v":2}').hexdigest()
    assert job_id_for_url("HTTP://E.org:80/./a.pdf") == expected_url


def test_work_id_wins_over_url() -> None:
    assert job_id(work_id="W1", url="http://e.org/") == job_id_for_work("W1")
    assert job_id(work_id=None, url="http://e.org/") == job_id_for_url("http://e.org/")


@pytest.mark.parametrize(
    "bad", ["ftp://e.org/x", "mailto:a@b", "http://", "not a url", "http://e.org:99999/"]
)
def test_invalid_urls_are_refused(bad: str) -> None:
    with pytest.raises(InvalidURL):
        canonical_url(bad)


def test_a_job_needs_something() -> None:
    with pytest.raises(InvalidURL):
        job_id(work_id=None, url=None)
