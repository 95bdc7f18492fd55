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
    "cookie-banner",
    "none",  # last: originfarm.sample skips it
)


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
    return _page("An article", head, body)


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
