"""Map one line of a URL list to one job: a bare URL, or CSV `work_id,url` (header optional).

A line that starts with http:// or https:// is a bare URL (commas and all); otherwise it is a CSV row
whose first field is the work id and second the URL. A doi.org URL gets tier ``doi``, any other
``oa_pdf``. The job id is the work id's when one is given, else the canonical URL's (DESIGN §2).
"""

from __future__ import annotations

import csv

from producer.errors import RejectedLine
from schemas import Candidate, InvalidURL, JobMessage, Tier, canonical_url, job_id
from schemas.doi import bare_doi, is_doi_url
from schemas.messages import MAX_URL_CHARS

SOURCE = "urls"
HEADER = ("work_id", "url")
BARE_URL_PREFIXES = ("http://", "https://")


def is_header(line: str) -> bool:
    """The optional CSV header `work_id,url` (any case, any spacing)."""
    return tuple(f.strip().lower() for f in line.split(",")) == HEADER


def split_line(line: str) -> tuple[str | None, str]:
    """(work id or None, url) of one non-blank line."""
    if line.lower().startswith(BARE_URL_PREFIXES):
        return None, line
    try:
        fields = next(csv.reader([line]))
    except csv.Error as exc:
        raise RejectedLine("bad-csv", str(exc)) from None
    if len(fields) == 1:
        raise RejectedLine("invalid-url", f"{line[:200]!r} is not an http(s) URL")
    if len(fields) != 2:
        raise RejectedLine("bad-csv", f"expected work_id,url or a bare URL, got {len(fields)} fields")
    work, url = (f.strip() for f in fields)
    if not url:
        raise RejectedLine("invalid-url", "empty URL")
    return work or None, url


def job_from_line(line: str, *, seeded_at_ms: int) -> JobMessage:
    """The job for one line; RejectedLine when the line has no valid URL."""
    work, url = split_line(line.strip())
    if len(url) > MAX_URL_CHARS:
        raise RejectedLine("invalid-url", f"URL longer than {MAX_URL_CHARS} characters")
    try:
        canonical_url(url)  # validates the URL even when the work id makes the job id
        jid = job_id(work_id=work, url=url)
    except InvalidURL as exc:
        raise RejectedLine("invalid-url", str(exc)) from None
    is_doi = is_doi_url(url)
    return JobMessage(
        job_id=jid,
        work_id=work,
        doi=bare_doi(url) if is_doi else None,
        candidates=(Candidate(url=url, tier=Tier.DOI if is_doi else Tier.OA_PDF),),
        source=SOURCE,
        seeded_at_ms=seeded_at_ms,
        attempt=0,
    )
