"""The state directory: one persistent store (RocksDB, through rocksdict) per state partition.

A `PartitionStore` holds every job's latest (state, attempt) of one partition and, written in the same
WriteBatch as the data it covers, its checkpoint: the state-topic offset up to which the store reflects
the partition, the marker (offset, timestamp, key) of the last record read before it, and the fingerprint
(cluster id, topic, partition) of where it came from. Which of them to trust is `restore.restore`'s call.

Writes skip RocksDB's write-ahead log (twice the write rate): a kill -9 loses what was not flushed yet,
checkpoint included, so the store is what it was at its last flush, consistent with the checkpoint of then
(a restore re-reads a little more). Closing flushes.

Memory: all stores of the process share one block cache, and their write buffers are charged to it
(`state_cache_bytes`), whatever the number of jobs. Disk: closed (revoked) stores stay for warm restores;
the least recently used are dropped beyond `state_dir_max_bytes`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import orjson
import rocksdict

from consumer.errors import PartitionLost, StoreBusy, StoreFailed
from consumer.statestore import Undecodable, decode_record
from schemas import KafkaSettings, State, peek_state_attempt_bytes
from schemas.kafka import admin_client

log = logging.getLogger("docfetch.consumer")

META = b"\x00"  # job ids are ASCII: no job's key starts with NUL
CHECKPOINT_KEY = META + b"checkpoint"
FINGERPRINT_KEY = META + b"fingerprint"
FORMAT = 2  # of the values below; part of the fingerprint, so a change of format rebuilds
_STATES = {s.value.encode(): s for s in State}
WRITE_BUFFER_BYTES = 8 * 2**20  # per store; all stores' buffers together are charged to the block cache
MAX_OPEN_FILES = 64  # per store: 48 partitions must not exhaust the process's file descriptors
LAST_USED = "LAST_USED"  # touched on close: the LRU order of revoked stores


class Keyed(Protocol):
    """A state record as read from the topic (aiokafka's ConsumerRecord)."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class Record(NamedTuple):
    key: bytes | None
    value: bytes | None


def rocksdb_error(exc: BaseException) -> bool:
    """rocksdict raises plain Exception with RocksDB's message (no subclass of its own)."""
    return type(exc) is Exception


@dataclass(frozen=True)
class Checkpoint:
    """The store reflects the partition's records below `offset`; `marker` is the last one it read."""

    offset: int
    marker: tuple[int, int, str] | None  # (offset, timestamp ms, key) of that record


def pack(state: State, attempt: int) -> bytes:
    """A job's value in the store: b"<STATE> <attempt>" (what a state record says, in a few bytes)."""
    return b"%s %d" % (state.value.encode(), attempt)


def unpack(value: bytes) -> tuple[State, int]:
    state, _, attempt = value.partition(b" ")
    return _STATES[state], int(attempt)


class PartitionStore:
    """One partition's store: the StateStore API (get/set/apply) over RocksDB, plus checkpointed batches."""

    def __init__(self, db: rocksdict.Rdict, path: Path) -> None:
        self._db: rocksdict.Rdict | None = db
        self.path = path
        self.undecodable = 0

    @property
    def db(self) -> rocksdict.Rdict:
        if self._db is None:  # a job of a lost or released partition: it is cancelled anyway
            raise PartitionLost(f"state store {self.path.name} is closed")
        return self._db

    # --- what jobs use (statestore.StateStore's API) ----------------------------------------------
    def get(self, job_id: str) -> tuple[State, int] | None:
        value = self.db.get(job_id.encode())
        return None if value is None else unpack(value)

    def set(self, job_id: str, state: State, attempt: int) -> None:
        """A durable write of this process: data only; the checkpoint moves by reading the topic."""
        self.db.put(job_id.encode(), pack(state, attempt))

    def apply(self, key: bytes | None, raw: bytes | None) -> None:
        self.write([Record(key, raw)], checkpoint=None)

    # --- what restore uses ------------------------------------------------------------------------
    def write(
        self, records: Iterable[Keyed], *, checkpoint: Checkpoint | Callable[[], Checkpoint] | None
    ) -> None:
        """Apply state records and, in the same batch, the checkpoint they bring the store to (a callable
        is called once the records are read: a restore's marker is the last of them)."""
        batch = rocksdict.WriteBatch(raw_mode=True)
        put = batch.put
        for record in records:
            key, raw = record.key, record.value
            if (
                key is not None
                and raw is not None
                and (fast := peek_state_attempt_bytes(raw)) is not None
                and fast[0] in _STATES
            ):  # the key is the job id (DESIGN §2)
                put(key, b"%s %s" % fast)
                continue
            try:
                decoded = decode_record(key, raw)
            except Undecodable:
                self.undecodable += 1
                continue
            if decoded is not None:
                job_id, latest = decoded
                if latest is None:
                    batch.delete(job_id.encode())
                else:
                    put(job_id.encode(), pack(*latest))
        if callable(checkpoint):
            checkpoint = checkpoint()
        if checkpoint is not None:
            doc = {"offset": checkpoint.offset, "marker": checkpoint.marker}
            put(CHECKPOINT_KEY, orjson.dumps(doc))
        self.db.write(batch)

    def checkpoint(self) -> Checkpoint | None:
        raw = self.db.get(CHECKPOINT_KEY)
        if raw is None:
            return None
        doc = orjson.loads(raw)
        marker = doc.get("marker")
        return Checkpoint(int(doc["offset"]), tuple(marker) if marker else None)

    def fingerprint(self) -> dict[str, object] | None:
        raw = self.db.get(FINGERPRINT_KEY)
        return None if raw is None else orjson.loads(raw)

    def reset(self, fingerprint: dict[str, object]) -> None:
        """Forget everything (a rebuild from the beginning follows): keys, checkpoint; new fingerprint."""
        db = self.db
        db.delete_range(b"", b"\xff")
        db.put(FINGERPRINT_KEY, orjson.dumps(fingerprint))
        self.undecodable = 0

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.flush(True)  # writes skip the WAL: what is not flushed is not on disk
            db.close()
            with contextlib.suppress(OSError):
                (self.path / LAST_USED).touch()


class StateDir:
    """The process's partition stores under `root`: opened on assignment, closed on revocation."""

    def __init__(self, root: Path, *, max_bytes: int, cache_bytes: int, cluster_id: str) -> None:
        self.root, self.max_bytes, self.cluster_id = root, max_bytes, cluster_id
        self._cache = rocksdict.Cache(cache_bytes)
        self._buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
            cache_bytes // 2, False, self._cache
        )
        self.open_stores: dict[Path, PartitionStore] = {}

    def fingerprint(self, topic: str, partition: int) -> dict[str, object]:
        return {"format": FORMAT, "cluster": self.cluster_id, "topic": topic, "partition": partition}

    def _options(self) -> rocksdict.Options:
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_paranoid_checks(True)
        options.set_max_open_files(MAX_OPEN_FILES)
        options.set_write_buffer_size(WRITE_BUFFER_BYTES)
        options.set_max_write_buffer_number(2)
        options.set_write_buffer_manager(self._buffers)
        table = rocksdict.BlockBasedOptions()
        table.set_block_cache(self._cache)
        table.set_cache_index_and_filter_blocks(True)
        options.set_block_based_table_factory(table)
        return options

    def open(self, topic: str, partition: int) -> PartitionStore:
        """p's store; a store that cannot be read is deleted and started anew. StoreBusy: held elsewhere."""
        path = self.root / f"{topic}-{partition}"
        if (already := self.open_stores.pop(path, None)) is not None:
            already.close()  # a re-acquisition after a loss: the same store, opened again
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            db = rocksdict.Rdict(str(path), self._options())
        except Exception as exc:  # rocksdict raises plain Exception with RocksDB's message
            if "lock" in str(exc).lower():
                raise StoreBusy(f"{path}: {exc}") from exc
            log.warning("event=state-store-unreadable path=%s error=%r action=rebuild", path, str(exc)[:300])
            shutil.rmtree(path, ignore_errors=True)
            try:
                db = rocksdict.Rdict(str(path), self._options())
            except Exception as again:
                raise StoreFailed(f"{path}: {again}") from again
        unlogged = rocksdict.WriteOptions()
        unlogged.disable_wal = True  # type: ignore[method-assign,assignment]  # a property (stubs: a method)
        db.set_write_options(unlogged)
        store = self.open_stores[path] = PartitionStore(db, path)
        return store

    def close(self, store: PartitionStore) -> None:
        """Close p's store (it stays on disk) and keep the directory within max_bytes."""
        if self.open_stores.get(store.path) is store:
            del self.open_stores[store.path]
        store.close()
        self.evict()

    def discard(self, topic: str, partition: int) -> None:
        """Drop p's store, open or not, without flushing it (RocksDB failed on it): the next open is new."""
        path = self.root / f"{topic}-{partition}"
        if (store := self.open_stores.pop(path, None)) is not None:
            db, store._db = store._db, None
            with contextlib.suppress(Exception):
                if db is not None:
                    db.close()
        shutil.rmtree(path, ignore_errors=True)

    def close_all(self) -> None:
        for store in list(self.open_stores.values()):
            store.close()
        self.open_stores.clear()

    def evict(self) -> int:
        """Drop the least recently used closed stores while the directory is above max_bytes."""
        if not self.root.is_dir():
            return 0
        sizes = {p: _size(p) for p in self.root.iterdir() if p.is_dir()}
        total, dropped = sum(sizes.values()), 0
        for path in sorted(sizes, key=_last_used):
            if total <= self.max_bytes:
                break
            if path in self.open_stores or not _drop_if_unlocked(path):
                continue
            total -= sizes[path]
            dropped += 1
            log.info("event=state-store-evicted path=%s bytes=%d", path, sizes[path])
        return dropped


async def cluster_id(kafka: KafkaSettings) -> str:
    """The cluster's id (part of every store's fingerprint: a store of another cluster is rebuilt)."""
    async with admin_client(kafka) as admin:
        described = await admin.describe_cluster()
    return str(described.get("cluster_id") or "")


@contextlib.contextmanager
def state_dir(root: Path, *, max_bytes: int, cache_bytes: int, cluster: str) -> Iterator[StateDir]:
    """The process's StateDir; every store still open is closed on the way out."""
    states = StateDir(root, max_bytes=max_bytes, cache_bytes=cache_bytes, cluster_id=cluster)
    states.evict()
    try:
        yield states
    finally:
        states.close_all()


def _size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(dirpath, name)).st_size
    return total


def _last_used(path: Path) -> float:
    try:
        return (path / LAST_USED).stat().st_mtime
    except OSError:
        return 0.0


def _drop_if_unlocked(path: Path) -> bool:
    """Delete a store no process holds (RocksDB's LOCK is an fcntl lock); False when one does."""
    try:
        fd = os.open(path / "LOCK", os.O_RDWR | os.O_CREAT)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        return True
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # open in another consumer sharing the directory
        shutil.rmtree(path, ignore_errors=True)
        return True
    finally:
        os.close(fd)
