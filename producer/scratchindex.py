"""A throw-away on-disk index (RocksDB through rocksdict) that operator commands stream topics into.

`status`, `requeue` and `audit` read whole topics; on hundreds of millions of records neither the
records nor one Python object per job fit in memory. They write what they need into this index and
then iterate it in key order (RocksDB keeps keys sorted, so a join of jobs and state records is a merge
of two key ranges). Memory is what `--index-memory-mb` allows (one block cache, with the write buffers
charged to it) plus one write batch, whatever the number of jobs; the rest is on disk, in a temporary
directory (`--tmp-dir`, else the system's) removed on exit. Nothing is logged or synced: it is rebuilt
on every run.

Keys are a one-byte keyspace then fixed-width fields (job ids are 64 hex characters, numbers
big-endian), so each keyspace iterates in (job id, number, ...) order. Keyspaces:
producer.statereader (S, T, F, A, U, J) and producer.commands.audit (P, Q, D).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import rocksdict

DEFAULT_MEMORY_MB = 64
MIN_MEMORY_MB = 8
BATCH_KEYS = 20_000  # writes per RocksDB batch: few calls, a few MB of Python objects at most
MAX_OPEN_FILES = 256
_AFTER = b"\xff" * 16  # sorts after any fixed-width suffix of a key


@dataclass(frozen=True)
class IndexSettings:
    tmp_dir: str | None = None  # None: the system's temporary directory
    memory_bytes: int = DEFAULT_MEMORY_MB * 2**20


def add_index_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tmp-dir", metavar="DIR", help="where the temporary on-disk index goes (system temp dir)"
    )
    parser.add_argument("--index-memory-mb", type=int, default=DEFAULT_MEMORY_MB, metavar="MB",
                        help="memory of that index: its block cache, write buffers charged to it "
                        f"({DEFAULT_MEMORY_MB})")  # fmt: skip


def index_settings(args: argparse.Namespace) -> IndexSettings:
    mb = max(MIN_MEMORY_MB, getattr(args, "index_memory_mb", DEFAULT_MEMORY_MB))
    return IndexSettings(tmp_dir=getattr(args, "tmp_dir", None), memory_bytes=mb * 2**20)


def u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def number(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


class ScratchIndex:
    """Buffered writes (one WriteBatch of at most BATCH_KEYS), then reads in key order; reads flush first."""

    def __init__(self, db: rocksdict.Rdict) -> None:
        self._db = db
        self._batch = rocksdict.WriteBatch(raw_mode=True)
        self._pending = 0

    def put(self, key: bytes, value: bytes = b"") -> None:
        self._batch.put(key, value)
        self._count()

    def delete(self, key: bytes) -> None:
        self._batch.delete(key)
        self._count()

    def _count(self) -> None:
        self._pending += 1
        if self._pending >= BATCH_KEYS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._db.write(self._batch)
            self._batch = rocksdict.WriteBatch(raw_mode=True)
            self._pending = 0

    def get(self, key: bytes) -> bytes | None:
        self.flush()
        value = self._db.get(key)
        return None if value is None else bytes(value)

    def items(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """(key without the prefix, value) of every key starting with `prefix`, in key order."""
        self.flush()
        it = self._db.iter()
        it.seek(prefix)
        cut = len(prefix)
        while it.valid():
            key = it.key()
            if not key.startswith(prefix):
                break
            yield key[cut:], it.value()
            it.next()

    def has_prefix(self, prefix: bytes) -> bool:
        return next(self.items(prefix), None) is not None

    def last_under(self, prefix: bytes) -> bytes | None:
        """The greatest key starting with `prefix` (without it), or None."""
        self.flush()
        it = self._db.iter()
        it.seek_for_prev(prefix + _AFTER)
        if it.valid() and (key := it.key()).startswith(prefix):
            return bytes(key[len(prefix) :])
        return None


def _options(memory_bytes: int) -> rocksdict.Options:
    cache = rocksdict.Cache(memory_bytes)
    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_max_open_files(MAX_OPEN_FILES)
    options.set_write_buffer_size(max(2**20, memory_bytes // 8))
    options.set_max_write_buffer_number(2)
    options.set_write_buffer_manager(
        rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(memory_bytes // 2, False, cache)
    )
    table = rocksdict.BlockBasedOptions()
    table.set_block_cache(cache)
    table.set_cache_index_and_filter_blocks(True)
    options.set_block_based_table_factory(table)
    return options


@contextlib.contextmanager
def scratch_index(settings: IndexSettings) -> Iterator[ScratchIndex]:
    """A fresh, empty index in a temporary directory, closed and removed on the way out."""
    with tempfile.TemporaryDirectory(prefix="docfetch-index-", dir=settings.tmp_dir) as where:
        db = rocksdict.Rdict(str(Path(where, "index")), _options(settings.memory_bytes))
        unlogged = rocksdict.WriteOptions()
        unlogged.disable_wal = True  # type: ignore[method-assign,assignment]  # a property (stubs: a method)
        db.set_write_options(unlogged)
        try:
            yield ScratchIndex(db)
        finally:
            db.close()
