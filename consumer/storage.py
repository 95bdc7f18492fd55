"""The content-addressed artifact store (DESIGN §4): `<root>/sha256/ab/cd/<hex>`, written exactly once,
with a sidecar `<hex>.json` (sha256, size, mimetype, extension) beside it; the layout is schemas.artifacts.

A download may run twice after a crash, so writing must be idempotent: stream to a temp file inside the
store (same filesystem, so the rename is atomic), hash while streaming, fsync the file and its directory,
then rename to the name of the content. An object that already has that name holds the same bytes.
The sidecar is written the same way after the object (and again when a retry finds the object without one).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from consumer.errors import StorageError, TooLarge
from schemas.artifacts import object_path, sidecar_bytes, sidecar_path, sniff_mimetype

# Small chunks are written inline; larger buffers go to a thread so a slow disk never stalls the loop.
INLINE_WRITE_BYTES = 64 * 1024
TEMP_PREFIX = ".tmp-"
SNIFF_BYTES = 16  # enough for every magic number sniff_mimetype knows


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A stored artifact: its sha256 hex digest, size in bytes and path in the store."""

    sha256: str
    size: int
    path: Path


def path_for(root: Path, sha256: str) -> Path:
    """Where the object with this sha256 hex digest lives."""
    return object_path(root, sha256)


class Writer:
    """One artifact being written: `write` chunks, then `commit` (or leave the block to discard)."""

    def __init__(self, *, root: Path, out: IO[bytes], tmp: Path, max_bytes: int) -> None:
        self._root, self._out, self.tmp, self._max_bytes = root, out, tmp, max_bytes
        self._digest = hashlib.sha256()
        self._head = b""
        self.size = 0

    async def write(self, chunk: bytes) -> None:
        """Append `chunk`; TooLarge past max_bytes, StorageError when the disk refuses."""
        self.size += len(chunk)
        if self.size > self._max_bytes:
            raise TooLarge(f"body exceeds {self._max_bytes} bytes")
        self._digest.update(chunk)
        if len(self._head) < SNIFF_BYTES:
            self._head = (self._head + chunk)[:SNIFF_BYTES]
        try:
            if len(chunk) <= INLINE_WRITE_BYTES:
                self._out.write(chunk)
            else:
                await asyncio.to_thread(self._out.write, chunk)
        except OSError as exc:
            raise StorageError(f"write failed: {exc}") from exc

    async def commit(self) -> ObjectRef:
        """Publish the object and its sidecar (mimetype sniffed from the first bytes) in one thread hop."""
        sha256 = self._digest.hexdigest()
        final = path_for(self._root, sha256)
        sidecar = sidecar_bytes(sha256, self.size, sniff_mimetype(self._head))
        try:
            side = sidecar_path(self._root, sha256)
            await asyncio.to_thread(_publish, self._out, self.tmp, final, (side, sidecar))
        except OSError as exc:
            raise StorageError(f"commit failed: {exc}") from exc
        return ObjectRef(sha256=sha256, size=self.size, path=final)


def _publish(out: IO[bytes], tmp: Path, final: Path, sidecar: tuple[Path, bytes]) -> None:
    """fsync the object and a temp holding the sidecar, then rename each to its name (or drop it when the
    name exists: same content) and fsync their directory once: both are durable when this returns. Both
    are written before either is renamed, so a full disk fails the commit with nothing published; a crash
    between the renames leaves an object without a sidecar (the next attempt writes it)."""
    out.flush()
    os.fsync(out.fileno())
    out.close()
    side, content = sidecar
    side_tmp = None if side.exists() else _durable_temp(tmp.parent, content)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        renamed = _rename_unless_exists(tmp, final)
        if side_tmp is not None:
            renamed |= _rename_unless_exists(side_tmp, side)
    finally:
        if side_tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                side_tmp.unlink()  # left only when a rename failed
    if renamed:
        _fsync_dir(final.parent)


def _durable_temp(root: Path, content: bytes) -> Path:
    """A temp file in the store root holding `content`, fsynced."""
    fd, name = tempfile.mkstemp(dir=root, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    return Path(name)


def _rename_unless_exists(tmp: Path, final: Path) -> bool:
    """Rename `tmp` to `final`, or drop it when `final` exists (same content: the name is the hash)."""
    if final.exists():
        tmp.unlink()
        return False
    os.replace(tmp, final)
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """The artifact store under `root`; `max_bytes` caps one object."""

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path_for(self, sha256: str) -> Path:
        return path_for(self.root, sha256)

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    @contextlib.asynccontextmanager
    async def writer(self) -> AsyncIterator[Writer]:
        """A temp file in the store; whatever is not committed is removed on exit."""
        out, tmp = await asyncio.to_thread(self._open_temp)
        try:
            yield Writer(root=self.root, out=out, tmp=tmp, max_bytes=self.max_bytes)
        finally:
            # Closing flushes buffered bytes; on a full disk that fails, and the temp is dropped anyway.
            with contextlib.suppress(OSError):
                out.close()
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def sweep_temps(self, *, older_than_s: float) -> int:
        """Remove temp files left by killed writers; returns how many. A live writer's temp is younger than
        any job deadline, so a grace far above it never touches one."""
        cutoff = time.time() - older_than_s
        removed = 0
        for tmp in self.root.glob(f"{TEMP_PREFIX}*") if self.root.is_dir() else ():
            with contextlib.suppress(FileNotFoundError):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
        return removed

    def _open_temp(self) -> tuple[IO[bytes], Path]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.root, prefix=TEMP_PREFIX)
        except OSError as exc:
            raise StorageError(f"cannot create a temp file in {self.root}: {exc}") from exc
        return os.fdopen(fd, "wb"), Path(name)
