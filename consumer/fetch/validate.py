"""Never trust a Content-Type: sniff the bytes."""

from __future__ import annotations

from schemas import Status

# Where the PDF signature may start (readers accept junk before it) and where %%EOF may end.
PDF_HEAD_BYTES = 1024
PDF_TAIL_BYTES = 1024
SOFT_BLOCK_MARKERS = (
    b"captcha",
    b"checking your browser",
    b"are you a robot",
    b"verify you are a human",
    b"access denied",
    b"just a moment...",
)
COOKIE_WALL_MARKERS = (b"accept cookies", b"accept all cookies", b"cookie consent", b"we value your privacy")


def is_pdf_head(head: bytes) -> bool:
    return b"%PDF-" in head[:PDF_HEAD_BYTES]


def has_pdf_eof(tail: bytes) -> bool:
    return b"%%EOF" in tail[-PDF_TAIL_BYTES:]


def looks_like_html(head: bytes) -> bool:
    start = head[:PDF_HEAD_BYTES].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<meta", b"<!--")) or b"<html" in start


def looks_like_xml(head: bytes) -> bool:
    """An XML document (JATS and the like) that is not XHTML: what a job wanting `xml` stores."""
    start = head[:PDF_HEAD_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    xml = start.startswith((b"<?xml", b"<!doctype article", b"<article", b"<pmc-articleset", b"<oai-pmh"))
    return xml and b"<html" not in start


def has_xml_end(tail: bytes) -> bool:
    """A whole XML document ends with the `>` of its root's end tag (trailing whitespace aside)."""
    return tail.rstrip().endswith(b">")


def blocked_status(html: bytes) -> Status | None:
    """SOFT_BLOCKED for a captcha / bot check or a cookie wall; None for an ordinary page."""
    text = html.lower()
    if any(marker in text for marker in SOFT_BLOCK_MARKERS + COOKIE_WALL_MARKERS):
        return Status.SOFT_BLOCKED
    return None
