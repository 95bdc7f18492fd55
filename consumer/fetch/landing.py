"""Find the full text a page points to: the citation_pdf_url family, then conservative link heuristics.

Everything here reads origin-controlled bytes, so every step is linear in the page: attribute values are
length-capped before they are looked at, no regex with nested or adjacent unbounded quantifiers meets
page text, and the input to the HTML tree builder is cut where nesting turns hostile (`bounded_html`).
Parsing still costs tens of milliseconds on a 2 MiB page, so the engine runs `read_page` in a worker
thread (lexbor releases the GIL while it parses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode

from consumer.fetch.refresh import refresh_target
from schemas import Wanted

# Highwire / Eprints / bepress meta tags, in the order sandcrawler trusts them.
PDF_META_NAMES = ("citation_pdf_url", "eprints.document_url", "bepress_citation_pdf_url", "fulltext_pdf_url")
XML_META_NAMES = ("citation_xml_url", "fulltext_xml_url")
HTML_META_NAMES = ("citation_fulltext_html_url",)
# A page naming its article this way is the article's page (its HTML full text when no other is named).
ARTICLE_META_NAMES = frozenset({"citation_title", "dc.title"})
ALTERNATE_TYPES = {
    Wanted.PDF: ("application/pdf",),
    Wanted.XML: ("application/xml", "text/xml", "application/jats+xml"),
    Wanted.HTML: (),
}
# No URL or refresh value on a real page comes near this; longer values are ignored, not parsed.
MAX_ATTR_CHARS = 4096
# Tags of one kind (meta, link, a) read per page: real pages carry a few hundred metas and a few thousand
# links; a hostile page of 75,000 metas costs no more than this many Python steps.
MAX_NODES_READ = 5000
# Elements walked per page: the largest real pages hold some tens of thousands; past this, stop looking.
MAX_NODES_VISITED = 200_000
# A download button says "PDF" or "Download PDF"; a cited reference's link text is a whole citation.
MAX_LINK_TEXT_CHARS = 60
_DOWNLOAD_WORDS = ("pdf", "download", "full text", "fulltext", "full-text")
# Ancestors whose id/class says "this is the reference list": links inside are other people's works.
_CITATION_CONTAINERS = ("reference", "citation", "bibliograph", "cited-by", "related", "recommend")
ANCESTORS_CHECKED = 20
# lexbor's tree builder is quadratic in the depth of these elements (each start tag scans the open
# elements for a <p> in button scope): 20,000 nested <div>s take 1.5 s, a 2 MiB page of them minutes.
# WebKit caps DOM depth at 512 and libxml2 at 256; no real page nests these half as deep.
MAX_BLOCK_DEPTH = 256
_BLOCK_NAMES = (
    b"address article aside blockquote center details dialog dir div dl fieldset figcaption figure footer"
    b" form header hgroup listing main menu nav ol pre search section summary ul"
).split()
_BLOCK_TAG = re.compile(rb"<(/?)(?:" + b"|".join(_BLOCK_NAMES) + rb")(?=[\s/>])")
# The regex engine holds the GIL for a whole call: scan in chunks so the event loop's thread gets its turn.
SCAN_CHUNK_BYTES = 64 * 1024
_LONGEST_BLOCK_TAG = len("</figcaption>")


@dataclass(frozen=True, slots=True)
class Link:
    """A URL a page leads to and the rule that found it (recorded in the job's hops)."""

    url: str
    rule: str


@dataclass(frozen=True, slots=True)
class PageLinks:
    """What one page offers: the article's own full text of the wanted type, and a meta refresh."""

    full_text: Link | None
    refresh: Link | None
    is_article: bool = False  # carries an article's metadata (citation_title, DC.title)

    @property
    def next(self) -> Link | None:
        return self.full_text or self.refresh


def read_page(html: bytes, *, base_url: str, wanted: Wanted = Wanted.PDF) -> PageLinks:
    """Parse a page once and return its links; bounded time and memory on any input."""
    scan = _scan(HTMLParser(bounded_html(html)))
    metas = _metas(scan)
    return PageLinks(
        full_text=_full_text(scan, metas, base_url, wanted),
        refresh=_refresh(scan, base_url),
        is_article=any(name in metas for name in ARTICLE_META_NAMES),
    )


def pdf_link(html: bytes, *, base_url: str) -> str | None:
    """The absolute URL of the PDF this page links to, or None."""
    found = read_page(html, base_url=base_url).full_text
    return found.url if found else None


def meta_refresh(html: bytes, *, base_url: str) -> str | None:
    """The target of `<meta http-equiv=refresh>`, or None."""
    found = read_page(html, base_url=base_url).refresh
    return found.url if found else None


def bounded_html(html: bytes) -> bytes:
    """The page up to where block elements nest deeper than MAX_BLOCK_DEPTH (all of it, normally)."""
    lowered = html.lower()  # a case-sensitive scan of lowered bytes is ~3x faster than IGNORECASE
    depth = 0
    for start in range(0, len(html), SCAN_CHUNK_BYTES):
        end = start + SCAN_CHUNK_BYTES
        for tag in _BLOCK_TAG.finditer(lowered, start, end + _LONGEST_BLOCK_TAG):
            if tag.start() >= end:
                break  # the next chunk's
            depth = max(0, depth - 1) if tag.group(1) else depth + 1
            if depth > MAX_BLOCK_DEPTH:
                return html[: tag.start()]
    return html


def _attr(node: LexborNode, name: str) -> str:
    value = node.attributes.get(name) or ""
    return value.strip() if len(value) <= MAX_ATTR_CHARS else ""


@dataclass(slots=True)
class _Scan:
    """The tags a page's links live in, in document order, at most MAX_NODES_READ of each kind."""

    metas: list[LexborNode] = field(default_factory=list)
    links: list[LexborNode] = field(default_factory=list)
    anchors: list[LexborNode] = field(default_factory=list)


def _scan(tree: HTMLParser) -> _Scan:
    """One walk over the element tree, at most MAX_NODES_VISITED elements. Not `css()`: selecting
    60,000 matches holds the GIL for one long call (100-200 ms on a loaded machine); a walk yields it."""
    scan = _Scan()
    kinds = {"meta": scan.metas, "link": scan.links, "a": scan.anchors}
    for visited, node in enumerate(tree.root.traverse() if tree.root else ()):
        kind = kinds.get(node.tag or "")
        if kind is not None and len(kind) < MAX_NODES_READ:
            kind.append(node)
        if visited >= MAX_NODES_VISITED:
            break
    return scan


def _full_text(scan: _Scan, metas: dict[str, str], base_url: str, wanted: Wanted) -> Link | None:
    names = {Wanted.PDF: PDF_META_NAMES, Wanted.XML: XML_META_NAMES, Wanted.HTML: HTML_META_NAMES}[wanted]
    found = _meta_link(metas, base_url, names) or _alternate(scan, base_url, ALTERNATE_TYPES[wanted])
    if found is None and wanted is Wanted.PDF:
        found = _heuristic_pdf(scan, base_url)
    return found


def _metas(scan: _Scan) -> dict[str, str]:
    """name -> content of the named meta tags (the first of a name wins)."""
    metas: dict[str, str] = {}
    for node in scan.metas:
        name = _attr(node, "name").lower()
        if name:
            metas.setdefault(name, _attr(node, "content"))
    return metas


def _meta_link(metas: dict[str, str], base_url: str, names: tuple[str, ...]) -> Link | None:
    for name in names:
        if metas.get(name):
            return Link(url=urljoin(base_url, metas[name]), rule=f"meta:{name}")
    return None


def _alternate(scan: _Scan, base_url: str, types: tuple[str, ...]) -> Link | None:
    for node in scan.links:
        if "alternate" in _attr(node, "rel").lower() and _attr(node, "type").lower() in types:
            href = _attr(node, "href")
            if href:
                return Link(url=urljoin(base_url, href), rule="link:alternate")
    return None


def _heuristic_pdf(scan: _Scan, base_url: str) -> Link | None:
    """An <a> to a .pdf on the page's own site, whose short text names a download, outside any
    reference list: a reference's PDF is someone else's work, never this page's article."""
    site = _site(base_url)
    for node in scan.anchors:
        href = _attr(node, "href")
        url = urljoin(base_url, href) if href else ""
        if not urlsplit(url).path.lower().endswith(".pdf") or _site(url) != site:
            continue
        if _names_download(node) and not _in_reference_list(node):
            return Link(url=url, rule="heuristic:download-link")
    return None


def _names_download(node: LexborNode) -> bool:
    text = " ".join((node.text(deep=True) or "")[: MAX_LINK_TEXT_CHARS * 4].split()).lower()
    if len(text) > MAX_LINK_TEXT_CHARS:
        return False
    return any(word in text for word in _DOWNLOAD_WORDS)


def _in_reference_list(node: LexborNode) -> bool:
    parent = node.parent
    for _ in range(ANCESTORS_CHECKED):
        if parent is None:
            return False
        if parent.tag in ("cite", "ref"):
            return True
        marks = f"{_attr(parent, 'id')} {_attr(parent, 'class')}".lower()
        if any(mark in marks for mark in _CITATION_CONTAINERS):
            return True
        parent = parent.parent
    return False


def _site(url: str) -> str:
    """The registrable part of a URL's host, approximately: the last two labels (three under a short
    second-level label such as ac.uk or co.jp), so a publisher's CDN subdomain counts as its site."""
    host = urlsplit(url).hostname or ""
    if ":" in host or host.replace(".", "").isdigit():
        return host  # an address literal is its own site
    labels = host.split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2 else 2
    return ".".join(labels[-keep:])


def _refresh(scan: _Scan, base_url: str) -> Link | None:
    for node in scan.metas:
        if _attr(node, "http-equiv").lower() == "refresh":
            target = refresh_target(_attr(node, "content"))
            if target:
                return Link(url=urljoin(base_url, target), rule="meta:refresh")
    return None
