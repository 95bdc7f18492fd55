"""Stream the lines of a seed file (plain, gzip, or stdin) with their line numbers; never load it whole."""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from producer.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
# Buffered reads of 1 MiB keep syscalls few.
READ_BUFFER_BYTES = 1024 * 1024
# The longest line read (bytes, line ending included): OpenAlex works are a few KiB, the largest seen
# well under 1 MiB. A longer line is skipped in pieces of SKIP_CHUNK_BYTES, never held whole.
DEFAULT_MAX_LINE_BYTES = 1024 * 1024
MIN_LINE_BYTES = 1024  # below this even a single URL line would be refused
SKIP_CHUNK_BYTES = 1024 * 1024
# How much of an over-long line the rejects file gets: enough to recognise the record.
EXCERPT_BYTES = 1024


class SeedFileSettings(BaseSettings):
    """DOCFETCH_SEED_MAX_LINE_BYTES: the longest seed line accepted (the --max-line-bytes default)."""

    model_config = SettingsConfigDict(env_prefix="DOCFETCH_", extra="forbid", frozen=True)

    seed_max_line_bytes: int = Field(default=DEFAULT_MAX_LINE_BYTES, ge=MIN_LINE_BYTES)


@dataclass(frozen=True, slots=True)
class OverlongLine:
    """A line longer than the limit, in its place in the stream: its first bytes and its full length."""

    excerpt: bytes
    length_bytes: int


class SeedFile:
    """A context manager over the raw lines of PATH or "-" (stdin); gzip is detected by its magic."""

    def __init__(self, path: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self._raw: BinaryIO | None = None
        self._gzip: gzip.GzipFile | None = None
        self.line_no = 0

    def __enter__(self) -> SeedFile:
        self._raw = self._open_raw()
        if self._raw.peek(2)[:2] == GZIP_MAGIC:  # type: ignore[attr-defined]
            self._gzip = gzip.GzipFile(fileobj=self._raw, mode="rb")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._gzip is not None:
            self._gzip.close()
        if self._raw is not None and self.path != "-":
            self._raw.close()

    def _open_raw(self) -> BinaryIO:
        if self.path == "-":
            return sys.stdin.buffer
        try:
            raw = open(self.path, "rb", buffering=READ_BUFFER_BYTES)  # noqa: SIM115 (closed in __exit__)
        except OSError as exc:
            raise InputError(f"cannot read {self.path}: {exc.strerror}") from None
        return raw

    def position_bytes(self) -> int:
        """How far into the (compressed) file the reader is; for progress and ETA."""
        if self._raw is None or self.path == "-":
            return 0
        return self._raw.tell()

    def __iter__(self) -> Iterator[bytes | OverlongLine]:
        """Each line without its line ending, or an OverlongLine past `max_line_bytes`; `line_no` is the
        1-based number of the line just given."""
        assert self._raw is not None, "use SeedFile in a with block"
        stream: BinaryIO = self._gzip or self._raw  # type: ignore[assignment]
        try:
            while line := stream.readline(self.max_line_bytes + 1):
                self.line_no += 1
                if len(line) > self.max_line_bytes and not line.endswith(b"\n"):
                    yield OverlongLine(line[:EXCERPT_BYTES], len(line) + _skip_line(stream))
                else:
                    yield line.rstrip(b"\r\n")
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{self.path}: unreadable after line {self.line_no}: {exc}") from None


def _skip_line(stream: BinaryIO) -> int:
    """Read past the rest of the current line in bounded pieces; the number of bytes skipped."""
    skipped = 0
    while piece := stream.readline(SKIP_CHUNK_BYTES):
        skipped += len(piece)
        if piece.endswith(b"\n"):
            break
    return skipped
