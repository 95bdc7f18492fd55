"""HTML bodies the farm serves: landing pages with each meta-tag variant, blocks, refreshes."""

from __future__ import annotations

META_VARIANTS = ("citation_pdf_url", "eprints.document_url", "bepress_citation_pdf_url", "fulltext_pdf_url")
# Landing-page variants: how the page points at its PDF.
LANDING_VARIANTS = (
    "citation_pdf_url",
    "eprints.document_url",
    "bepress_citation_pdf_url",
    "fulltext_pdf_url",
    "link-alternate",
    "heuristic",
    "meta-refresh",
    "none",
)
# Served too, but not in the bundled sample (deploy/sample/works.jsonl cycles through LANDING_VARIANTS).
EXTRA_LANDING_VARIANTS = ("cookie-banner",)

# What marks an article's own page (a job wanting `html` stores such a page).
ARTICLE_META = '<meta name="citation_title" content="An article">'


def landing_page(variant: str, pdf_url: str) -> bytes:
    """A publisher landing page whose link to `pdf_url` is expressed as `variant`."""
    if variant == "cookie-banner":
        return cookie_banner_landing(pdf_url)
    head, body = "", "<p>Abstract: we study things.</p><a href='/about'>About</a>"
    if variant in (
        "citation_pdf_url",
        "eprints.document_url",
        "bepress_citation_pdf_url",
        "fulltext_pdf_url",
    ):
        head = f'<meta name="{variant}" content="{pdf_url}">'
    elif variant == "link-alternate":
        head = f'<link rel="alternate" type="application/pdf" href="{pdf_url}">'
    elif variant == "heuristic":
        body += f'<a class="btn" href="{pdf_url}">Download PDF</a>'
    elif variant == "meta-refresh":
        head = f'<meta http-equiv="refresh" content="0; url={pdf_url}">'
    return _page("An article", ARTICLE_META + head, body)


def soft_block_page() -> bytes:
    return _page(
        "Just a moment...",
        "",
        "<h1>Checking your browser before accessing</h1><p>Please complete the captcha to continue.</p>",
    )


def cookie_wall_page() -> bytes:
    return _page(
        "Cookie consent",
        "",
        "<h1>We value your privacy</h1><p>Accept cookies to continue to the article.</p>"
        "<button>Accept all cookies</button>",
    )


def html_instead_of_pdf() -> bytes:
    return _page("Article", "", "<p>This is the HTML view of the article, not its PDF.</p>")


def meta_refresh_page(target: str) -> bytes:
    return _page("Redirecting", f'<meta http-equiv="refresh" content="1;url={target}">', "")


def full_text_formats_page(pdf_url: str, xml_url: str) -> bytes:
    """An article page offering its PDF and its JATS XML (as PubMed Central and PeerJ do)."""
    head = (
        f'{ARTICLE_META}<meta name="citation_pdf_url" content="{pdf_url}">'
        f'<meta name="citation_xml_url" content="{xml_url}">'
    )
    return _page("An article", head, "<p>Abstract: we study things.</p><p>Full text: ...</p>")


def jats_xml(ident: str) -> bytes:
    """A small JATS article: what a job wanting `xml` stores."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal '
        'Archiving and Interchange DTD v1.2 20190208//EN" "JATS-archivearticle1.dtd">\n'
        f"<article><front><article-meta><article-id>{ident}</article-id></article-meta></front>"
        "<body><p>We study things.</p></body></article>\n"
    ).encode()


def refresh_regex_page(spaces: int) -> bytes:
    """A refresh value of `spaces` spaces: once took cubic time in the engine's refresh regex (issue 11)."""
    return _page("Refresh", f'<meta http-equiv=refresh content="{" " * spaces}">', "")


def deep_nesting_page(size_bytes: int) -> bytes:
    """`size_bytes` of nested <div>s: quadratic in an HTML tree builder unless the depth is capped."""
    return _page("Nested", "", "<div>" * (size_bytes // 5))


def cookie_banner_landing(pdf_url: str) -> bytes:
    """An ordinary publisher page: a OneTrust cookie banner and a reCAPTCHA key beside citation_pdf_url."""
    head = f'<meta name="citation_pdf_url" content="{pdf_url}">'
    body = (
        '<div id="onetrust-banner-sdk"><p>We value your privacy</p><button>Accept all cookies</button></div>'
        '<div data-recaptchaKey="6Lc-abc">captcha for comments</div><p>Abstract: we study things.</p>'
    )
    return _page("An article", head, body)


def _page(title: str, head: str, body: str) -> bytes:
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title>{head}</head><body>{body}</body></html>"
    ).encode()
