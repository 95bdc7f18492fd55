"""The artifact store's layout (DESIGN §4), the one rule the consumer writes by and every reader reads by.

An object is stored under its content's name: ``<store>/sha256/ab/cd/<hex>`` (ab, cd: the first two
byte pairs of the hex digest), with no extension, so the same bytes always have the same path. Beside it
a sidecar ``<hex>.json`` tells a downstream reader what the bytes are without opening them:
``{"sha256": ..., "size": ..., "mimetype": "application/pdf", "extension": "pdf"}``.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import orjson

OBJECTS_DIR = "sha256"
SIDECAR_SUFFIX = ".json"
# sha256/ab/cd/<64 hex>, optionally followed by the sidecar suffix.
_OBJECT_REL = re.compile(r"^sha256/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})(\.json)?$")
# What a downstream reader would name the file; anything else is "bin".
EXTENSIONS = {
    "application/pdf": "pdf",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/jats+xml": "xml",
    "text/html": "html",
    "application/octet-stream": "bin",
}
PDF_MAGIC = b"%PDF-"


def object_relpath(sha256: str) -> PurePosixPath:
    """The object's path relative to the store root: sha256/ab/cd/<hex>."""
    return PurePosixPath(OBJECTS_DIR, sha256[:2], sha256[2:4], sha256)


def object_path(root: Path, sha256: str) -> Path:
    """Where the object with this sha256 hex digest lives under `root`."""
    return root.joinpath(*object_relpath(sha256).parts)


def sidecar_path(root: Path, sha256: str) -> Path:
    """The sidecar describing the object: <hex>.json beside it."""
    path = object_path(root, sha256)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def parse_relpath(rel: str) -> tuple[str, bool] | None:
    """(sha256, is_sidecar) of a well-placed store file (relative POSIX path), else None."""
    match = _OBJECT_REL.match(rel)
    if match is None or not match[3].startswith(match[1] + match[2]):
        return None
    return match[3], match[4] is not None


def sniff_mimetype(head: bytes) -> str:
    """The type of stored bytes from their first bytes (the engine stores PDFs only)."""
    return "application/pdf" if head.lstrip(b"\r\n\t ").startswith(PDF_MAGIC) else "application/octet-stream"


def sidecar_bytes(sha256: str, size: int, mimetype: str) -> bytes:
    """The sidecar's content (one JSON object, sorted keys)."""
    base = mimetype.split(";", 1)[0].strip().lower()
    doc = {"sha256": sha256, "size": size, "mimetype": base, "extension": EXTENSIONS.get(base, "bin")}
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
