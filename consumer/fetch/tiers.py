"""The plan of a job: its candidate URLs in tier order, with the DOI routed through the resolver."""

from __future__ import annotations

from urllib.parse import urlsplit

from schemas import JobMessage, Tier, Wanted, tier_rank
from schemas.doi import bare_doi, is_doi_url


def resolver_url(resolver: str, doi: str) -> str:
    return resolver.rstrip("/") + "/" + bare_doi(doi)


def plan(job: JobMessage, *, resolver: str) -> list[tuple[Tier, str]]:
    """(tier, url) pairs in tier rank order (list order within a rank), each URL once; archive comes later.
    A job wanting XML or HTML skips the candidates that name a PDF file: they cannot hold what it wants."""
    steps: list[tuple[Tier, str]] = []
    for candidate in job.candidates:
        url = candidate.url
        if job.wanted is not Wanted.PDF and urlsplit(url).path.lower().endswith(".pdf"):
            continue
        if candidate.tier is Tier.DOI and is_doi_url(url):
            url = resolver_url(resolver, url)
        steps.append((candidate.tier, url))
    if job.doi and not any(tier is Tier.DOI for tier, _ in steps):
        steps.append((Tier.DOI, resolver_url(resolver, job.doi)))
    steps.sort(key=lambda step: tier_rank(step[0]))
    first_tier: dict[str, Tier] = {}
    for tier, url in steps:
        first_tier.setdefault(url, tier)
    return [(tier, url) for url, tier in first_tier.items()]
