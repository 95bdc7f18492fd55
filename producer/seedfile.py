"""Stream the lines of a seed file (plain, gzip, or stdin) with their line numbers; never load it whole."""

from __future__ import annotations

import gzip
import os
import sys
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from producer.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
# Buffered reads of 1 MiB keep syscalls few; a line longer than that is still read whole.
READ_BUFFER_BYTES = 1024 * 1024


class SeedFile:
    """A context manager over the raw lines of PATH or "-" (stdin); gzip is detected by its magic."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._raw: BinaryIO | None = None
        self._gzip: gzip.GzipFile | None = None
        self.size_bytes: int | None = None  # None for stdin: no ETA
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
            self.size_bytes = os.fstat(raw.fileno()).st_size
        except OSError as exc:
            raise InputError(f"cannot read {self.path}: {exc.strerror}") from None
        return raw

    def position_bytes(self) -> int:
        """How far into the (compressed) file the reader is; for progress and ETA."""
        if self._raw is None or self.path == "-":
            return 0
        return self._raw.tell()

    def __iter__(self) -> Iterator[bytes]:
        """Each line without its line ending; `line_no` is the 1-based number of the line just given."""
        assert self._raw is not None, "use SeedFile in a with block"
        try:
            for line in self._gzip or self._raw:
                self.line_no += 1
                yield line.rstrip(b"\r\n")
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{self.path}: unreadable after line {self.line_no}: {exc}") from None
