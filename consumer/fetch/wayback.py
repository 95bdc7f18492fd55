"""The web-archive tier: the Wayback availability API, then the raw (`id_`) replay of the snapshot."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import orjson

# A replay URL's timestamp segment; `id_` after it asks for the original bytes without the toolbar.
_SNAPSHOT = re.compile(r"/web/(\d{1,14})/")


def availability_url(endpoint: str, original: str) -> str:
    return f"{endpoint}?{urlencode({'url': original})}"


def raw_replay_url(body: bytes) -> str | None:
    """The `id_` replay URL of the closest available snapshot in an availability answer, or None."""
    try:
        closest = orjson.loads(body).get("archived_snapshots", {}).get("closest") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return None
    if not closest.get("available") or not isinstance(closest.get("url"), str):
        return None
    url: str = closest["url"]
    return _SNAPSHOT.sub(lambda m: f"/web/{m.group(1)}id_/", url, count=1)
