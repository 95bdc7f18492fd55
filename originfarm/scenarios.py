"""Routes of every simulated host: which path produces which scenario (documented in docs/ENGINE.md)."""

from __future__ import annotations

import json
import time
from collections import Counter
from urllib.parse import parse_qs

from originfarm import hostile, pages
from originfarm.hosts import HOSTS, PRIVATE_ADDRESS
from originfarm.pdfgen import make_pdf
from originfarm.wire import Request, Response

PDF = {"content-type": "application/pdf"}
HTML = {"content-type": "text/html; charset=utf-8"}
# Size of PDFs whose size the path does not give.
DEFAULT_PDF_BYTES = 20_000
# Slow drip: 2 KiB every 50 ms, so a default PDF takes about half a second.
DRIP = (2048, 0.05)
WAYBACK_TS = "20200101000000"
# 3,200 spaces took the old refresh regex 105 s; the page cap is the engine's max_html_bytes default.
HOSTILE_REFRESH_SPACES = 3200
HOSTILE_PAGE_BYTES = 2 * 1024 * 1024 - 256
STRICT_ROBOTS = "User-agent: *\nDisallow: /private/\nCrawl-delay: 0.3\n"


class Scenarios:
    """The farm's behaviour; `port` is the port every host listens on (for absolute URLs)."""

    def __init__(self, *, port: int) -> None:
        self.port = port
        self.flaky_seen: Counter[str] = Counter()

    def url(self, host: str, path: str) -> str:
        return f"http://{HOSTS[host]}:{self.port}{path}"

    async def route(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p]
        if req.path == "/robots.txt":
            return (
                hostile.robots(req.headers.get("host", ""))
                if req.host == "hostile"
                else self.robots(req.host)
            )
        if req.host == "hostile":
            return hostile.route(parts, port=self.port)
        if req.host == "doi":
            return self.doi(parts)
        if req.host == "archive":
            return self.archive(req, parts)
        if req.host == "publisher":
            return self.publisher(parts)
        if req.host == "strict" and parts[:1] not in (["private"], ["public"]):
            return Response(404, b"not here")
        return self.direct(req, parts)

    def robots(self, host: str) -> Response:
        if host == "strict":
            return Response(200, STRICT_ROBOTS.encode(), {"content-type": "text/plain"})
        if host == "robots5xx":
            return Response(503, b"robots unavailable")
        return Response(404, b"no robots.txt")

    def direct(self, req: Request, parts: list[str]) -> Response:
        kind, rest = (parts[0], parts[1:]) if parts else ("", [])
        name = rest[-1] if rest else "index"
        if kind == "pdf" and len(rest) == 2 and rest[0].isdigit():
            return Response(200, make_pdf(name, int(rest[0])), dict(PDF))
        if kind in ("private", "public"):
            return Response(200, make_pdf(name, DEFAULT_PDF_BYTES), dict(PDF))
        if kind == "redirect" and rest and rest[0].isdigit():
            return self.redirect_chain(int(rest[0]), rest[1:])
        if kind == "loop":
            return _redirect("/loop/b" if name == "a" else "/loop/a")
        if kind == "status" and rest and rest[0].isdigit():
            return _status(int(rest[0]))
        if kind == "flaky" and rest and rest[0].isdigit():
            return self.flaky(req.host + req.path, int(rest[0]), name)
        if kind == "flap" and rest and rest[0].isdigit():
            return flap(int(rest[0]), name)
        if kind == "cut" and rest and rest[0].isdigit():
            return self.cut(req.host + req.path, int(rest[0]), name)
        if kind == "offsite" and len(rest) >= 2 and rest[0] in HOSTS:
            return _redirect(self.url(rest[0], "/" + "/".join(rest[1:])))
        if kind == "to-private":
            return _redirect(f"http://{PRIVATE_ADDRESS}:{self.port}/pdf/20000/{name}")
        return broken(kind, name) or Response(404, b"no such scenario")

    def redirect_chain(self, hops_left: int, rest: list[str]) -> Response:
        if hops_left <= 0:
            return _redirect("/" + "/".join(rest))
        return _redirect(f"/redirect/{hops_left - 1}/" + "/".join(rest))

    def flaky(self, key: str, fail_times: int, name: str) -> Response:
        self.flaky_seen[key] += 1
        if self.flaky_seen[key] <= fail_times:
            return Response(503, b"try again", {"retry-after": "0"})
        return Response(200, make_pdf(name, DEFAULT_PDF_BYTES), dict(PDF))

    def cut(self, key: str, cut_times: int, name: str) -> Response:
        """The first `cut_times` requests of a path close the connection mid-body; later ones succeed."""
        self.flaky_seen[key] += 1
        pdf = make_pdf(name, DEFAULT_PDF_BYTES)
        if self.flaky_seen[key] <= cut_times:
            return Response(200, pdf[: len(pdf) // 2], dict(PDF), declared_extra=len(pdf) - len(pdf) // 2)
        return Response(200, pdf, dict(PDF))

    def doi(self, parts: list[str]) -> Response:
        if len(parts) < 2 or not parts[0].startswith("10."):
            return Response(404, b"DOI not found")
        variant, _, ident = parts[1].rpartition(".")
        if variant == "direct":
            return _redirect(self.url("pdfs", f"/pdf/30000/{ident}.pdf"))
        if variant == "gone" or not variant:
            return Response(404, b"DOI not found")
        return _redirect(self.url("publisher", f"/article/{variant}/{ident}"))

    def publisher(self, parts: list[str]) -> Response:
        if len(parts) == 2 and parts[0] == "files" and parts[1].endswith(".xml"):
            return Response(200, pages.jats_xml(parts[1]), {"content-type": "application/xml"})
        if len(parts) == 2 and parts[0] == "files":
            return Response(200, make_pdf(parts[1], 50_000), dict(PDF))
        if len(parts) == 3 and parts[:2] == ["article", "formats"]:
            page = pages.full_text_formats_page(f"/files/{parts[2]}.pdf", f"/files/{parts[2]}.xml")
            return Response(200, page, dict(HTML))
        if (
            len(parts) == 3
            and parts[0] == "article"
            and parts[1] in pages.LANDING_VARIANTS + pages.EXTRA_LANDING_VARIANTS
        ):
            variant, ident = parts[1], parts[2]
            relative = variant in ("link-alternate", "heuristic")
            pdf = f"/files/{ident}.pdf" if relative else self.url("publisher", f"/files/{ident}.pdf")
            return Response(200, pages.landing_page(variant, pdf), dict(HTML))
        return Response(404, b"no such article")

    def archive(self, req: Request, parts: list[str]) -> Response:
        if req.path == "/wayback/available":
            return self.availability(parse_qs(req.query).get("url", [""])[0])
        if len(parts) >= 3 and parts[0] == "web":
            original = req.target.split("/", 3)[3]
            if parts[1].endswith("id_"):
                return Response(200, make_pdf(original, 40_000), dict(PDF))
            return Response(200, pages.html_instead_of_pdf(), dict(HTML))
        return Response(404, b"not archived")

    def availability(self, original: str) -> Response:
        closest = {}
        if "archived" in original:
            closest = {
                "closest": {
                    "available": True,
                    "status": "200",
                    "timestamp": WAYBACK_TS,
                    "url": self.url("archive", f"/web/{WAYBACK_TS}/{original}"),
                }
            }
        body = json.dumps({"url": original, "archived_snapshots": closest}).encode()
        return Response(200, body, {"content-type": "application/json"})


def broken(kind: str, name: str) -> Response | None:
    """The failure kinds of a direct download, by the first path segment."""
    pdf = make_pdf(name, DEFAULT_PDF_BYTES)
    match kind:
        case "slow":
            return Response(200, pdf, dict(PDF), drip=DRIP)
        case "stall":
            return Response(200, pdf, dict(PDF), stall_after=1024)
        case "truncated":
            return Response(200, pdf[: len(pdf) // 2], dict(PDF), declared_extra=len(pdf) - len(pdf) // 2)
        case "html-as-pdf":
            return Response(200, pages.html_instead_of_pdf(), dict(PDF))
        case "empty":
            return Response(200, b"", dict(PDF))
        case "no-eof":
            return Response(200, pdf[:-64], dict(PDF))
        case "softblock":
            return Response(200, pages.soft_block_page(), dict(HTML))
        case "cookiewall":
            return Response(200, pages.cookie_wall_page(), dict(HTML))
        case "meta-refresh":
            return Response(200, pages.meta_refresh_page(f"/pdf/20000/{name}.pdf"), dict(HTML))
    return hostile_page(kind)


def hostile_page(kind: str) -> Response | None:
    """Hostile pages (issue 11): each must cost the engine bounded time and never stall its loop."""
    match kind:
        case "hostile-refresh":
            return Response(200, pages.refresh_regex_page(HOSTILE_REFRESH_SPACES), dict(HTML))
        case "hostile-nesting":
            return Response(200, pages.deep_nesting_page(HOSTILE_PAGE_BYTES), dict(HTML))
    return None


def flap(period_ms: int, name: str) -> Response:
    """A host flapping on the farm's clock: 503 (no Retry-After) in odd periods of `period_ms`, else 200."""
    if period_ms > 0 and int(time.monotonic() * 1000 // period_ms) % 2:
        return Response(503, b"flapping")
    return Response(200, make_pdf(name, DEFAULT_PDF_BYTES), dict(PDF))


def _redirect(location: str, status: int = 302) -> Response:
    return Response(status, b"", {"location": location})


def _status(code: int) -> Response:
    headers = {"retry-after": "1"} if code in (429, 503) else {}
    return Response(code, f"status {code}".encode(), headers)
