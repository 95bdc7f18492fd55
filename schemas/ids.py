"""Job-id derivation (DESIGN §2): a work id, else the canonical URL (schemas.urls), hashed with a version."""

from __future__ import annotations

import hashlib

import orjson

from schemas.errors import InvalidURL
from schemas.urls import canonical_url

# Hashed into every id. Work-keyed ids are still v1: their payload never changed. URL-keyed ids are v2
# since canonical_url follows the WHATWG URL standard and IDNA 2008 (issue 12): one URL's key changed,
# so its id did (docs/PRODUCER.md says what that means for a re-seed).
WORK_ID_VERSION = 1
URL_ID_VERSION = 2


def _digest(payload: dict[str, object]) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def job_id_for_work(work_id: str) -> str:
    """The id of the job for a known work (e.g. an OpenAlex ``W…`` id)."""
    if not work_id.strip():
        raise InvalidURL("empty work id")
    return _digest({"v": WORK_ID_VERSION, "work": work_id.strip()})


def job_id_for_url(url: str) -> str:
    """The id of the job for a bare URL: keyed by its canonical form."""
    return _digest({"v": URL_ID_VERSION, "url": canonical_url(url)})


def job_id(*, work_id: str | None, url: str | None) -> str:
    """The work id wins when known; otherwise the canonical URL."""
    if work_id:
        return job_id_for_work(work_id)
    if url:
        return job_id_for_url(url)
    raise InvalidURL("a job needs a work id or a URL")
