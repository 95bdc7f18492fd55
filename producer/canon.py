"""schemas.canonical_url with a fast path: most seed URLs are already canonical.

Seeding spends most of its time canonicalising candidate URLs (for in-job dedupe and validation).
A URL that matches `_ALREADY_CANONICAL` is returned as is: lower-case http(s) scheme, lower-case ASCII
host of valid labels, no port, no userinfo, a non-empty path without percent-escapes or dot segments,
no fragment, no whitespace or control characters. Everything else goes through the full function.
tests/unit/test_producer_canon.py checks the fast path against the full function (hypothesis).
"""

from __future__ import annotations

import re

from schemas import canonical_url

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_ALREADY_CANONICAL = re.compile(
    rf"https?://{_LABEL}(?:\.{_LABEL})*"  # host: no trailing dot, no port, no userinfo
    r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*"  # path: no '%', no '?', no '#'
    r"(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]+)?"  # query: non-empty (urlunsplit drops a bare '?')
    r"\Z"
)
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|\?|\Z)")


def canonical(url: str) -> str:
    """canonical_url(url), faster for URLs already canonical; raises schemas.InvalidURL likewise."""
    if _ALREADY_CANONICAL.match(url) and not _DOT_SEGMENT.search(url.split("?", 1)[0]):
        return url
    return canonical_url(url)
