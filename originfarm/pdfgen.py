"""Deterministic, valid-looking PDFs of a requested size (`%PDF-` ... `%%EOF`)."""

from __future__ import annotations

import hashlib

HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
TRAILER = b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
# The smallest body that still holds a header, one object and the trailer.
MIN_BYTES = 128


def make_pdf(name: str, size_bytes: int) -> bytes:
    """A PDF of exactly `size_bytes` (at least MIN_BYTES) whose content depends on `name`."""
    size_bytes = max(size_bytes, MIN_BYTES)
    obj = f"1 0 obj\n<< /Type /Catalog /Title ({name}) >>\nendobj\n".encode()
    fill_len = size_bytes - len(HEADER) - len(obj) - len(TRAILER) - len(b"stream\n\nendstream")
    seed = hashlib.sha256(name.encode()).digest()
    filler = (seed * (max(fill_len, 0) // len(seed) + 1))[: max(fill_len, 0)]
    body = HEADER + obj + b"stream\n" + filler + b"\nendstream" + TRAILER
    return body[:size_bytes] if len(body) > size_bytes else body
