"""The content-addressed artifact store (DESIGN §4): `<root>/sha256/ab/cd/<hex>`, written exactly once,
with a sidecar `<hex>.json` (sha256, size, mimetype, extension) beside it; the layout is schemas.artifacts.

A download may run twice after a crash, so writing must be idempotent: stream to a temp file inside the
store (same filesystem, so the rename is atomic), hash while streaming, fsync the file and its directory,
then rename to the name of the content. An object that already has that name holds the same bytes.
The sidecar is written the same way after the object (and again when a retry finds the object without one).

A body is held in memory until it passes BUFFER_BYTES, so a small one (most PDFs' first chunks, many whole
PDFs) costs one thread hop in all: temp file, write, fsync, rename and sidecar together at commit. A larger
one opens its temp file in a thread when it passes the buffer and streams on from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from consumer.errors import StorageError, TooLarge
from schemas.artifacts import OBJECTS_DIR, SIDECAR_SUFFIX, object_path, sidecar_bytes, sniff_mimetype

# Small chunks are written inline; larger buffers go to a thread so a slow disk never stalls the loop.
INLINE_WRITE_BYTES = 64 * 1024
# A body up to this size is kept in memory and written at commit (one thread hop); above it, streamed.
BUFFER_BYTES = 64 * 1024
TEMP_PREFIX = ".tmp-"
SNIFF_BYTES = 16  # enough for every magic number sniff_mimetype knows
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_TEMP_ATTEMPTS = 100  # as tempfile.mkstemp


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A stored artifact: its sha256 hex digest, size in bytes and path in the store."""

    sha256: str
    size: int
    path: Path


def path_for(root: Path, sha256: str) -> Path:
    """Where the object with this sha256 hex digest lives."""
    return object_path(root, sha256)


def _object_str(root: str, sha256: str) -> str:
    """object_path as a str (schemas.artifacts' layout; tests/unit/test_storage.py holds them equal)."""
    return os.path.join(root, OBJECTS_DIR, sha256[:2], sha256[2:4], sha256)


class _TempNames:
    """Temp file names unique to this process (a random token, then a counter): cheaper than mkstemp's
    random names, created with O_EXCL all the same."""

    def __init__(self) -> None:
        self._token = os.urandom(6).hex()
        self._counter = itertools.count()

    def create(self, root: str) -> tuple[int, str]:
        """(fd, path) of a new empty temp file in `root`, opened for writing."""
        for _ in range(_TEMP_ATTEMPTS):
            name = os.path.join(root, f"{TEMP_PREFIX}{self._token}-{next(self._counter)}")
            try:
                return os.open(name, _TEMP_FLAGS, 0o600), name
            except FileExistsError:
                self._token = os.urandom(6).hex()  # another process's names: draw a new token
        raise FileExistsError(f"no free temp name in {root}")


_NAMES = _TempNames()


def _create_temp(root: str) -> tuple[int, str]:
    try:
        os.makedirs(root, exist_ok=True)
        return _NAMES.create(root)
    except OSError as exc:
        raise StorageError(f"cannot create a temp file in {root}: {exc}") from exc


class Writer:
    """One artifact being written: `write` chunks, then `commit` (or leave the block to discard)."""

    def __init__(self, *, root: Path, max_bytes: int) -> None:
        self._root, self._root_s, self._max_bytes = root, os.fspath(root), max_bytes
        self._digest = hashlib.sha256()
        self._head = b""
        self._buffered: list[bytes] = []  # the body so far while it fits BUFFER_BYTES and no file is open
        self._out: IO[bytes] | None = None
        self.tmp: str | None = None  # the temp file, once there is one and until it is published
        self.size = 0

    async def write(self, chunk: bytes) -> None:
        """Append `chunk`; TooLarge past max_bytes, StorageError when the disk refuses."""
        self.size += len(chunk)
        if self.size > self._max_bytes:
            raise TooLarge(f"body exceeds {self._max_bytes} bytes")
        self._digest.update(chunk)
        if len(self._head) < SNIFF_BYTES:
            self._head = (self._head + chunk)[:SNIFF_BYTES]
        if self._out is None:
            if self.size <= BUFFER_BYTES:
                self._buffered.append(chunk)
                return
            await self._open()
        assert self._out is not None
        try:
            if len(chunk) <= INLINE_WRITE_BYTES:
                self._out.write(chunk)
            else:
                await asyncio.to_thread(self._out.write, chunk)
        except OSError as exc:
            raise StorageError(f"write failed: {exc}") from exc

    async def _open(self) -> None:
        """The temp file, holding the buffered bytes (in one thread hop)."""
        buffered, self._buffered = self._buffered, []
        self._out, self.tmp = await asyncio.to_thread(_open_temp, self._root_s, buffered)

    async def commit(self) -> ObjectRef:
        """Publish the object and its sidecar (mimetype sniffed from the first bytes) in one thread hop."""
        sha256 = self._digest.hexdigest()
        final = _object_str(self._root_s, sha256)
        sidecar = (final + SIDECAR_SUFFIX, sidecar_bytes(sha256, self.size, sniff_mimetype(self._head)))
        try:
            if self._out is None:
                buffered, self._buffered = self._buffered, []
                await asyncio.to_thread(_publish_buffered, self._root_s, buffered, final, sidecar)
            else:
                assert self.tmp is not None, "a writer with an open file has its temp"
                await asyncio.to_thread(_publish, self._out, self._root_s, self.tmp, final, sidecar)
                self.tmp = None  # renamed or dropped by _publish
        except OSError as exc:
            raise StorageError(f"commit failed: {exc}") from exc
        return ObjectRef(sha256=sha256, size=self.size, path=Path(final))

    def discard(self) -> None:
        """Close and remove what was not published (the writer's block exit)."""
        self._buffered = []
        if self._out is not None:
            # Closing flushes buffered bytes; on a full disk that fails, and the temp is dropped anyway.
            with contextlib.suppress(OSError):
                self._out.close()
        if self.tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)
            self.tmp = None


def _open_temp(root: str, buffered: list[bytes]) -> tuple[IO[bytes], str]:
    fd, name = _create_temp(root)
    out = os.fdopen(fd, "wb")
    try:
        for chunk in buffered:
            out.write(chunk)
    except BaseException:
        _drop(out, name)
        raise
    return out, name


def _publish_buffered(root: str, buffered: list[bytes], final: str, sidecar: tuple[str, bytes]) -> None:
    """The whole body from memory: a temp file written, then published as `_publish` does; nothing is
    left behind when it fails."""
    out, tmp = _open_temp(root, buffered)
    try:
        _publish(out, root, tmp, final, sidecar)
    except BaseException:
        _drop(out, tmp)
        raise


def _drop(out: IO[bytes], tmp: str) -> None:
    with contextlib.suppress(OSError):
        out.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


def _publish(out: IO[bytes], root: str, tmp: str, final: str, sidecar: tuple[str, bytes]) -> None:
    """fsync the object and a temp holding the sidecar, then rename each to its name (or drop it when the
    name exists: same content) and fsync their directory once: both are durable when this returns. Both
    are written before either is renamed, so a full disk fails the commit with nothing published; a crash
    between the renames leaves an object without a sidecar (the next attempt writes it)."""
    out.flush()
    os.fsync(out.fileno())
    out.close()
    side, content = sidecar
    side_tmp = None if os.path.exists(side) else _durable_temp(root, content)
    directory = os.path.dirname(final)
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, exist_ok=True)
        renamed = _rename_unless_exists(tmp, final)
        if side_tmp is not None:
            renamed |= _rename_unless_exists(side_tmp, side)
    finally:
        if side_tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(side_tmp)  # left only when a rename failed
    if renamed:
        _fsync_dir(directory)


def _durable_temp(root: str, content: bytes) -> str:
    """A temp file in the store root holding `content`, fsynced."""
    fd, name = _NAMES.create(root)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    return name


def _rename_unless_exists(tmp: str, final: str) -> bool:
    """Rename `tmp` to `final`, or drop it when `final` exists (same content: the name is the hash)."""
    if os.path.exists(final):
        os.unlink(tmp)
        return False
    os.replace(tmp, final)
    return True


def _fsync_dir(path: str) -> None:
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
        """A writer into the store; whatever is not committed is removed on exit. The temp file is made
        when the body passes BUFFER_BYTES or at commit (StorageError there when the store refuses)."""
        writer = Writer(root=self.root, max_bytes=self.max_bytes)
        try:
            yield writer
        finally:
            writer.discard()

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
