"""The bundled OpenAlex-shaped sample: works whose URLs point at farm hosts on a given port."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from originfarm.hosts import HOSTS
from originfarm.pages import LANDING_VARIANTS

DOI_PREFIX = "10.5555"
# (share of works, what the work's locations look like); shares add to 300 works.
MIX = (
    (120, "oa_pdf"),
    (40, "repository"),
    (70, "doi"),
    (30, "archive"),
    (40, "failure"),
)
FAILURES = (
    "status/404",
    "status/403",
    "status/410",
    "html-as-pdf",
    "empty",
    "softblock",
    "truncated",
    "loop",
)


def sample_lines(*, port: int) -> Iterator[str]:
    n = 0
    for count, kind in MIX:
        for i in range(count):
            n += 1
            yield orjson.dumps(_work(n, kind, i, port)).decode()


def _work(n: int, kind: str, i: int, port: int) -> dict[str, object]:
    def url(host: str, path: str) -> str:
        return f"http://{HOSTS[host]}:{port}{path}"

    doi_suffix = f"direct.w{n}"
    pdf, landing = None, None
    if kind == "oa_pdf":
        pdf = url("pdfs", f"/pdf/{100_000 + n * 512}/w{n}.pdf")
    elif kind == "repository":
        pdf = url("repo", f"/pdf/{60_000 + n}/w{n}.pdf")
    elif kind == "doi":
        doi_suffix = f"{LANDING_VARIANTS[i % (len(LANDING_VARIANTS) - 1)]}.w{n}"
    elif kind == "archive":
        doi_suffix, pdf = f"gone.w{n}", url("pdfs", f"/status/404/archived-w{n}.pdf")
    else:
        doi_suffix = f"gone.w{n}"
        pdf = url("pdfs", f"/{FAILURES[i % len(FAILURES)]}/w{n}.pdf")
    source = "repository" if kind == "repository" else "journal"
    location = _location(pdf=pdf, landing=landing or url("doi", f"/{DOI_PREFIX}/{doi_suffix}"), source=source)
    return {
        "id": f"https://openalex.org/W{4_000_000_000 + n}",
        "doi": f"https://doi.org/{DOI_PREFIX}/{doi_suffix}",
        "title": f"Sample work {n} ({kind})",
        "open_access": {"is_oa": pdf is not None, "oa_url": pdf},
        "best_oa_location": location if pdf else None,
        "primary_location": location,
        "locations": [location],
    }


def _location(*, pdf: str | None, landing: str, source: str) -> dict[str, object]:
    return {
        "is_oa": pdf is not None,
        "pdf_url": pdf,
        "landing_page_url": landing,
        "source": {"type": source, "display_name": f"Farm {source}"},
    }
