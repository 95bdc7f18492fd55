"""Find the PDF a landing page points to: the citation_pdf_url family, then conservative link heuristics."""

from __future__ import annotations

import re
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser as HTMLParser

# Highwire / Eprints / bepress meta tags, in the order sandcrawler trusts them.
PDF_META_NAMES = ("citation_pdf_url", "eprints.document_url", "bepress_citation_pdf_url", "fulltext_pdf_url")
_REFRESH = re.compile(r"^\s*\d*\s*;?\s*url\s*=\s*['\"]?([^'\"]+)", re.IGNORECASE)
_PDF_TEXT = re.compile(r"\b(download|full[- ]?text)?\s*pdf\b", re.IGNORECASE)


def next_url(html: bytes, *, base_url: str) -> str | None:
    """Where a page leads: its PDF link, else its meta refresh target."""
    return pdf_link(html, base_url=base_url) or meta_refresh(html, base_url=base_url)


def pdf_link(html: bytes, *, base_url: str) -> str | None:
    """The absolute URL of the PDF this page links to, or None."""
    tree = HTMLParser(html)
    return _meta_pdf(tree, base_url) or _alternate_pdf(tree, base_url) or _heuristic_pdf(tree, base_url)


def meta_refresh(html: bytes, *, base_url: str) -> str | None:
    """The target of `<meta http-equiv=refresh>`, or None."""
    for node in HTMLParser(html).css("meta[http-equiv]"):
        if (node.attributes.get("http-equiv") or "").lower() == "refresh":
            found = _REFRESH.match(node.attributes.get("content") or "")
            if found:
                return str(urljoin(base_url, found.group(1).strip()))
    return None


def _meta_pdf(tree: HTMLParser, base_url: str) -> str | None:
    metas = {(m.attributes.get("name") or "").lower(): m.attributes.get("content") for m in tree.css("meta")}
    for name in PDF_META_NAMES:
        if metas.get(name):
            return urljoin(base_url, str(metas[name]).strip())
    return None


def _alternate_pdf(tree: HTMLParser, base_url: str) -> str | None:
    for node in tree.css("link[rel]"):
        attrs = node.attributes
        if "alternate" in (attrs.get("rel") or "").lower() and attrs.get("type") == "application/pdf":
            return urljoin(base_url, (attrs.get("href") or "").strip()) if attrs.get("href") else None
    return None


def _heuristic_pdf(tree: HTMLParser, base_url: str) -> str | None:
    """An <a> whose href ends in .pdf and whose text says PDF: conservative on purpose."""
    for node in tree.css("a[href]"):
        href = (node.attributes.get("href") or "").strip()
        if href.lower().split("?")[0].endswith(".pdf") and _PDF_TEXT.search(node.text() or ""):
            return str(urljoin(base_url, href))
    return None
