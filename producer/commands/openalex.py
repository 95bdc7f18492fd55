"""Map one OpenAlex work object (API or snapshot JSON) to one job message.

Candidate order (the consumer tries candidates by `schemas.TIER_RANK`, in this list order within a rank;
repository and oa_pdf share the first rank, so repository copies are tried first):

1. every `pdf_url`, in location order: `best_oa_location` (OpenAlex's recommended OA copy) first, then
   `primary_location`, then `locations[]`; tier ``repository`` where the location's `source.type` is
   "repository" (PMC, arXiv, institutional repositories), else ``oa_pdf`` (one rank: tried in this order);
2. then `open_access.oa_url` as ``oa_pdf``, unless it is a landing page of one of the locations (then it
   is a ``landing`` candidate).
3. ``doi``: the `doi` URL as given ("https://doi.org/10…"); the consumer resolves it.
4. ``landing``: `landing_page_url` of the locations, same location order.

URLs are deduplicated by canonical form (the first, highest tier wins). Invalid URLs are dropped; a work
left without any candidate is rejected. Unknown fields are ignored.
"""

from __future__ import annotations

import re
from typing import Any

from producer.errors import RejectedLine
from schemas import Candidate, InvalidURL, JobMessage, Tier, canonical_url, job_id_for_work
from schemas.doi import bare_doi
from schemas.messages import MAX_URL_CHARS

SOURCE = "openalex"
WORK_ID = re.compile(r"^(?:https?://openalex\.org/)?(W\d+)$", re.IGNORECASE)


def _field(obj: dict[str, Any], name: str, kind: type) -> Any:
    """obj[name] when present and of `kind`; None when absent or null; a reject when mistyped."""
    value = obj.get(name)
    if value is None or isinstance(value, kind):
        return value
    raise RejectedLine("wrong-shape", f"{name} is {type(value).__name__}, expected {kind.__name__}")


def work_id_of(work: dict[str, Any]) -> str:
    raw = _field(work, "id", str)
    if raw is None:
        raise RejectedLine("no-id", "the work has no id")
    match = WORK_ID.match(raw.strip())
    if match is None:
        raise RejectedLine("bad-id", f"{raw[:100]!r} is not an OpenAlex work id (W…)")
    return match.group(1).upper()


def _locations(work: dict[str, Any]) -> list[dict[str, Any]]:
    """best_oa_location, primary_location, then locations[], skipping nulls."""
    listed = _field(work, "locations", list) or []
    ordered = [_field(work, "best_oa_location", dict), _field(work, "primary_location", dict), *listed]
    for loc in ordered:
        if loc is not None and not isinstance(loc, dict):
            raise RejectedLine("wrong-shape", f"a location is {type(loc).__name__}, expected object")
    return [loc for loc in ordered if loc]


def _is_repository(loc: dict[str, Any]) -> bool:
    source = _field(loc, "source", dict) or {}
    return source.get("type") == "repository"


def _raw_candidates(work: dict[str, Any]) -> list[tuple[Any, Tier]]:
    """(url, tier) in the documented order, before validation and dedupe."""
    locs = _locations(work)
    pdfs = [(loc.get("pdf_url"), _is_repository(loc)) for loc in locs]
    landings = [loc.get("landing_page_url") for loc in locs]
    oa_url = (_field(work, "open_access", dict) or {}).get("oa_url")
    oa_tier = Tier.LANDING if oa_url in landings else Tier.OA_PDF
    return [
        *[(url, Tier.REPOSITORY if repo else Tier.OA_PDF) for url, repo in pdfs],
        (oa_url, oa_tier),
        (_field(work, "doi", str), Tier.DOI),
        *[(url, Tier.LANDING) for url in landings],
    ]


def candidates_of(work: dict[str, Any]) -> tuple[Candidate, ...]:
    """Valid, deduplicated candidates; invalid URLs are dropped silently."""
    raw_seen: set[str] = set()  # the same string often appears in several locations: check it once
    seen: set[str] = set()
    out: list[Candidate] = []
    for url, tier in _raw_candidates(work):
        if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS or url in raw_seen:
            continue
        raw_seen.add(url)
        try:
            key = canonical_url(url)
        except InvalidURL:
            continue
        if key not in seen:
            seen.add(key)
            out.append(Candidate(url=url.strip(), tier=tier))
    return tuple(out)


def work_doi(doi_url: str | None) -> str | None:
    """The work's DOI in its bare form ("https://doi.org/10.1/x" -> "10.1/x"); None stays None."""
    return bare_doi(doi_url) if doi_url else None


def job_from_work(work: Any, *, seeded_at_ms: int) -> JobMessage:
    """The job for one decoded work; RejectedLine when it is not a usable work."""
    if not isinstance(work, dict):
        raise RejectedLine("wrong-shape", f"expected a JSON object, got {type(work).__name__}")
    wid = work_id_of(work)
    candidates = candidates_of(work)
    if not candidates:
        raise RejectedLine("no-usable-url", f"{wid} has no valid pdf, DOI or landing page URL")
    return JobMessage(
        job_id=job_id_for_work(wid),
        work_id=wid,
        doi=work_doi(_field(work, "doi", str)),
        candidates=candidates,
        source=SOURCE,
        seeded_at_ms=seeded_at_ms,
        attempt=0,
    )
