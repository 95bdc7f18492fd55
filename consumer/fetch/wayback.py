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
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    snapshots = answer.get("archived_snapshots") if isinstance(answer, dict) else None
    closest = snapshots.get("closest") if isinstance(snapshots, dict) else None
    if not isinstance(closest, dict) or closest.get("available") is not True:
        return None
    url = closest.get("url")
    if not isinstance(url, str):
        return None
    return _SNAPSHOT.sub(lambda m: f"/web/{m.group(1)}id_/", url, count=1)
