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

import orjson

from producer.errors import RejectedLine
from schemas import Candidate, InvalidURL, JobMessage, Tier, canonical_url, encode, job_id_for_work
from schemas.doi import bare_doi
from schemas.messages import (
    MAX_CANDIDATE_HOSTS,
    MAX_DOI_CHARS,
    MAX_TIMESTAMP_MS,
    MAX_URL_CHARS,
    MAX_WORK_ID_CHARS,
    SCHEMA_VERSION,
    Wanted,
)

SOURCE = "openalex"
# Tier members as plain globals: the mapping reads them per candidate (an enum attribute costs more).
_OA_PDF, _REPOSITORY, _DOI, _LANDING = Tier.OA_PDF, Tier.REPOSITORY, Tier.DOI, Tier.LANDING
WORK_ID = re.compile(r"^(?:https?://openalex\.org/)?(W\d+)$", re.IGNORECASE)
# A DOI URL whose bare DOI (schemas.doi.bare_doi) is its path: printable ASCII, no space, query or fragment.
PLAIN_DOI_URL = re.compile(r"https://doi\.org/([!\"$->@-~]*)\Z")


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


def _raw_candidates(work: dict[str, Any]) -> list[tuple[Any, Tier]]:
    """(url, tier) in the documented order, before validation and dedupe."""
    pdfs: list[tuple[Any, Tier]] = []
    landings: list[Any] = []
    for loc in _locations(work):
        source = loc.get("source")
        if source is not None and not isinstance(source, dict):
            _field(loc, "source", dict)  # the wrong-shape reject
        repository = source is not None and source.get("type") == "repository"
        pdfs.append((loc.get("pdf_url"), _REPOSITORY if repository else _OA_PDF))
        landings.append(loc.get("landing_page_url"))
    oa_url = (_field(work, "open_access", dict) or {}).get("oa_url")
    pdfs.append((oa_url, _LANDING if oa_url in landings else _OA_PDF))
    pdfs.append((_field(work, "doi", str), _DOI))
    pdfs.extend([(url, _LANDING) for url in landings])
    return pdfs


def candidate_urls(work: dict[str, Any]) -> list[tuple[str, Tier]]:
    """(url, tier) of the valid, deduplicated candidates; invalid URLs are dropped silently."""
    raw_seen: set[str] = set()  # the same string often appears in several locations: check it once
    seen: set[str] = set()
    out: list[tuple[str, Tier]] = []
    for url, tier in _raw_candidates(work):
        if not isinstance(url, str) or url in raw_seen or not url or len(url) > MAX_URL_CHARS:
            continue
        raw_seen.add(url)
        try:
            key = canonical_url(url)
        except InvalidURL:
            continue
        if key not in seen:
            seen.add(key)
            out.append((url.strip(), tier))
    return out


def candidates_of(work: dict[str, Any]) -> tuple[Candidate, ...]:
    """Valid, deduplicated candidates; invalid URLs are dropped silently."""
    return tuple(Candidate(url=url, tier=tier) for url, tier in candidate_urls(work))


def work_doi(doi_url: str | None) -> str | None:
    """The work's DOI in its bare form ("https://doi.org/10.1/x" -> "10.1/x"); None stays None."""
    if not doi_url:
        return None
    if plain := PLAIN_DOI_URL.match(doi_url):  # what bare_doi gives, without parsing the URL
        return plain.group(1).lstrip("/")
    return bare_doi(doi_url)


def _usable(work: Any) -> tuple[str, list[tuple[str, Tier]], str | None]:
    """(work id, candidate urls, bare DOI) of a usable work; RejectedLine when it is not one."""
    if not isinstance(work, dict):
        raise RejectedLine("wrong-shape", f"expected a JSON object, got {type(work).__name__}")
    wid = work_id_of(work)
    urls = candidate_urls(work)
    if not urls:
        raise RejectedLine("no-usable-url", f"{wid} has no valid pdf, DOI or landing page URL")
    return wid, urls, work_doi(_field(work, "doi", str))


def job_from_work(work: Any, *, seeded_at_ms: int) -> JobMessage:
    """The job for one decoded work; RejectedLine when it is not a usable work."""
    wid, urls, doi = _usable(work)
    return _job(wid, urls, doi, seeded_at_ms)


def _job(wid: str, urls: list[tuple[str, Tier]], doi: str | None, seeded_at_ms: int) -> JobMessage:
    return JobMessage(
        job_id=job_id_for_work(wid),
        work_id=wid,
        doi=doi,
        candidates=tuple(Candidate(url=url, tier=tier) for url, tier in urls),
        source=SOURCE,
        seeded_at_ms=seeded_at_ms,
        attempt=0,
    )


def encoded_job_from_work(work: Any, *, seeded_at_ms: int) -> tuple[str, bytes]:
    """(job id, `encode(job_from_work(work))`), the same bytes and the same rejects.

    The seeding hot path: when every field is plainly within the job message's bounds (`_plainly_valid`)
    the message is written as JSON directly, without building the pydantic models; otherwise the model
    is built, and its validation decides (and words the error). tests/unit/test_producer_openalex.py
    checks both give the same bytes."""
    wid, urls, doi = _usable(work)
    if not _plainly_valid(wid, urls, doi, seeded_at_ms):
        job = _job(wid, urls, doi, seeded_at_ms)
        return job.job_id, encode(job)
    jid = job_id_for_work(wid)
    message = {
        "schema": SCHEMA_VERSION,
        "job_id": jid,
        "work_id": wid,
        "doi": doi,
        "candidates": [{"url": url, "tier": tier.value} for url, tier in urls],
        "wanted": Wanted.PDF.value,
        "source": SOURCE,
        "seeded_at_ms": seeded_at_ms,
        "attempt": 0,
    }
    return jid, orjson.dumps(message)


def _plainly_valid(wid: str, urls: list[tuple[str, Tier]], doi: str | None, seeded_at_ms: int) -> bool:
    """True only when JobMessage accepts these fields (schemas.messages): texts within their lengths and
    printable (so without the control characters it refuses), no more candidates than hosts allowed
    (so no host count is needed), a timestamp in range. False is no verdict: the model decides."""
    return (
        len(urls) <= MAX_CANDIDATE_HOSTS
        and len(wid) <= MAX_WORK_ID_CHARS
        and wid.isprintable()
        and (doi is None or (0 < len(doi) <= MAX_DOI_CHARS and doi.isprintable()))
        and all(0 < len(url) <= MAX_URL_CHARS and url.isprintable() for url, _ in urls)
        and 0 <= seeded_at_ms <= MAX_TIMESTAMP_MS
    )
