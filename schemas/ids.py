"""Job-id derivation and URL canonicalisation (DESIGN §2). The canonical URL is a key, never fetched."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

import orjson

from schemas.errors import InvalidURL

JOB_ID_VERSION = 1
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def _normalise_escapes(part: str) -> str:
    """Upper-case percent-escapes and decode those of unreserved characters (RFC 3986 §6.2.2)."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _ESCAPE.sub(fix, part)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, on whole segments; an empty path becomes "/"."""
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    joined = "/".join(out)
    return joined if joined.startswith("/") else "/" + joined


def _canonical_host(host: str) -> str:
    host = host.rstrip(".").lower()
    if not host:
        raise InvalidURL("no host")
    if host.startswith("["):
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidURL(f"host {host!r} is not valid IDNA: {exc}") from None


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, IDNA, default port dropped, dot segments removed,
    percent-escapes normalised, fragment dropped; the query is kept as is."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"{url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidURL(f"{url!r}: scheme must be http or https")
    host = _canonical_host(parts.hostname or "")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _remove_dot_segments(_normalise_escapes(parts.path))
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def _digest(payload: dict[str, object]) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def job_id_for_work(work_id: str) -> str:
    """The id of the job for a known work (e.g. an OpenAlex ``W…`` id)."""
    if not work_id.strip():
        raise InvalidURL("empty work id")
    return _digest({"v": JOB_ID_VERSION, "work": work_id.strip()})


def job_id_for_url(url: str) -> str:
    """The id of the job for a bare URL: keyed by its canonical form."""
    return _digest({"v": JOB_ID_VERSION, "url": canonical_url(url)})


def job_id(*, work_id: str | None, url: str | None) -> str:
    """The work id wins when known; otherwise the canonical URL."""
    if work_id:
        return job_id_for_work(work_id)
    if url:
        return job_id_for_url(url)
    raise InvalidURL("a job needs a work id or a URL")
