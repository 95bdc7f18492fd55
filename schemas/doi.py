"""DOIs: the spellings docfetch accepts and the one bare form (`10.x/y`) that job messages carry."""

from __future__ import annotations

from urllib.parse import urlsplit

# Resolver host names whose URLs are DOIs (the consumer rewrites them to its configured resolver).
DOI_HOSTS = frozenset({"doi.org", "dx.doi.org", "www.doi.org"})
DOI_SCHEME = "doi:"


def is_doi_url(value: str) -> bool:
    """An http(s) URL on a DOI resolver host ("https://doi.org/10.1/x")."""
    parts = urlsplit(value.strip())
    return parts.scheme.lower() in ("http", "https") and (parts.hostname or "") in DOI_HOSTS


def bare_doi(value: str) -> str:
    """`10.x/y` from a DOI in any of its common spellings: resolver URL, `doi:` prefix, or bare."""
    value = value.strip()
    if is_doi_url(value):
        return urlsplit(value).path.lstrip("/")
    return value[len(DOI_SCHEME) :] if value[: len(DOI_SCHEME)].lower() == DOI_SCHEME else value


def doi_key(value: str) -> str:
    """A DOI as compared: bare and lower case (DOIs are case-insensitive)."""
    return bare_doi(value).lower()
