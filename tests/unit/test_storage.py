"""The content-addressed store: naming, idempotence, size cap, cleanup (tmp_path only, no network)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from consumer import storage
from consumer.errors import StorageError, TooLarge
from consumer.storage import BUFFER_BYTES, Store, path_for
from schemas.artifacts import object_relpath, parse_relpath, sidecar_path


def _names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_path_for_splits_the_digest() -> None:
    hexd = "ab" + "cd" + "0" * 60
    assert path_for(Path("/s"), hexd) == Path("/s/sha256/ab/cd") / hexd


async def test_commit_names_the_object_by_its_sha256(tmp_path: Path) -> None:
    store = Store(tmp_path, max_bytes=1 << 20)
    body = b"%PDF-1.4 hello %%EOF"
    async with store.writer() as w:
        await w.write(body[:5])
        await w.write(body[5:])
        ref = await w.commit()
    assert ref.sha256 == hashlib.sha256(body).hexdigest()
    assert ref.size == len(body)
    assert ref.path.read_bytes() == body
    assert _names(tmp_path) == ["sha256"]


async def test_second_write_of_same_content_keeps_one_object(tmp_path: Path) -> None:
    store = Store(tmp_path, max_bytes=1 << 20)
    refs = []
    for _ in range(2):
        async with store.writer() as w:
            await w.write(b"same bytes")
            refs.append(await w.commit())
    assert refs[0] == refs[1]
    assert len(_files(tmp_path)) == 2  # the object and its sidecar


async def test_commit_writes_a_sidecar_naming_the_type(tmp_path: Path) -> None:
    store = Store(tmp_path, max_bytes=1 << 20)
    body = b"%PDF-1.7 body %%EOF"
    async with store.writer() as w:
        await w.write(body[:3])
        await w.write(body[3:])
        ref = await w.commit()
    sidecar = sidecar_path(tmp_path, ref.sha256)
    assert sidecar == ref.path.with_name(ref.sha256 + ".json")
    doc = orjson.loads(sidecar.read_bytes())
    assert doc == {"sha256": ref.sha256, "size": len(body), "mimetype": "application/pdf", "extension": "pdf"}
    assert ref.path.read_bytes() == body  # the object keeps its bare sha256 name
    assert _names(tmp_path) == ["sha256"]  # no temp left


async def test_retry_restores_a_missing_sidecar(tmp_path: Path) -> None:
    store = Store(tmp_path, max_bytes=1 << 20)
    for _ in range(2):
        async with store.writer() as w:
            await w.write(b"not a pdf")
            ref = await w.commit()
        sidecar = sidecar_path(tmp_path, ref.sha256)
        assert orjson.loads(sidecar.read_bytes())["extension"] == "bin"
        sidecar.unlink()  # a crash between the object and its sidecar
    async with store.writer() as w:
        await w.write(b"not a pdf")
        await w.commit()
    assert sidecar.is_file()


def test_layout_rule_parses_what_it_builds() -> None:
    sha = "ab" + "cd" + "e" * 60
    assert object_relpath(sha).as_posix() == f"sha256/ab/cd/{sha}"
    assert parse_relpath(f"sha256/ab/cd/{sha}") == (sha, False)
    assert parse_relpath(f"sha256/ab/cd/{sha}.json") == (sha, True)
    assert parse_relpath(f"sha256/ab/ce/{sha}") is None
    assert parse_relpath(f"sha256/ab/cd/{sha}.tmp") is None


async def test_large_chunk_goes_through_a_thread(tmp_path: Path) -> None:
    store = Store(tmp_path, max_bytes=1 << 22)
    body = bytes(range(256)) * 4096
    async with store.writer() as w:
        await w.write(body)
        ref = await w.commit()
    assert ref.path.read_bytes() == body


async def test_too_large_leaves_nothing_behind(tmp_path: Path) -> None:
    store = Store(tmp_path, max_bytes=10)
    with pytest.raises(TooLarge):
        async with store.writer() as w:
            await w.write(b"12345678")
            await w.write(b"901")
    assert _names(tmp_path) == []


async def test_uncommitted_writer_is_discarded(tmp_path: Path) -> None:
    store = Store(tmp_path, max_bytes=100)
    async with store.writer() as w:
        await w.write(b"abandoned")
    assert _names(tmp_path) == []


async def test_unwritable_root_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    store = Store(blocker / "store", max_bytes=100)
    with pytest.raises(StorageError) as info:
        async with store.writer() as w:
            await w.write(b"%PDF-1.4 x %%EOF")
            await w.commit()
    assert "cannot create a temp file" in str(info.value)  # the engine's StoreFull: retryable storage-error


def test_sweep_removes_only_stale_temps(tmp_path: Path) -> None:
    store = Store(tmp_path, max_bytes=1024)
    stale, fresh, other = tmp_path / ".tmp-stale", tmp_path / ".tmp-fresh", tmp_path / "keep"
    for path in (stale, fresh, other):
        path.write_bytes(b"x")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    assert store.sweep_temps(older_than_s=3600) == 1
    assert not stale.exists() and fresh.exists() and other.exists()
    assert Store(tmp_path / "missing", max_bytes=1).sweep_temps(older_than_s=1) == 0


async def test_unwritable_root_fails_a_streamed_body_when_it_passes_the_buffer(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    store = Store(blocker / "store", max_bytes=1 << 22)
    with pytest.raises(StorageError) as info:
        async with store.writer() as w:
            for _ in range(BUFFER_BYTES // 4096 + 1):
                await w.write(b"x" * 4096)
    assert "cannot create a temp file" in str(info.value)


def _counting_hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    hops: list[str] = []
    real = asyncio.to_thread

    async def counted(func: Callable[..., object], /, *args: object) -> object:
        hops.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args)

    monkeypatch.setattr(storage.asyncio, "to_thread", counted)
    return hops


async def test_a_small_body_costs_one_thread_hop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hops = _counting_hops(monkeypatch)
    store = Store(tmp_path, max_bytes=1 << 22)
    body = b"%PDF-1.4 " + bytes(range(256)) * 128 + b" %%EOF"  # ~32 KiB, in chunks as from a socket
    async with store.writer() as w:
        for start in range(0, len(body), 16 * 1024):
            await w.write(body[start : start + 16 * 1024])
        ref = await w.commit()
    assert len(hops) == 1
    assert ref.path.read_bytes() == body
    assert orjson.loads(sidecar_path(tmp_path, ref.sha256).read_bytes())["extension"] == "pdf"
    assert _names(tmp_path) == ["sha256"]  # no temp left


async def test_a_body_past_the_buffer_streams_through_a_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops = _counting_hops(monkeypatch)
    store = Store(tmp_path, max_bytes=1 << 22)
    chunk = bytes(range(256)) * 64  # 16 KiB
    count = 3 * BUFFER_BYTES // len(chunk)
    async with store.writer() as w:
        for _ in range(count):
            await w.write(chunk)
        assert _names(tmp_path)[0].startswith(".tmp-")  # on disk, not in memory
        ref = await w.commit()
    assert len(hops) == 2  # the temp when the body passed the buffer, then the publish
    assert ref.path.read_bytes() == chunk * count
    assert _names(tmp_path) == ["sha256"]


async def test_an_abandoned_streamed_body_leaves_no_temp(tmp_path: Path) -> None:
    store = Store(tmp_path, max_bytes=1 << 22)
    async with store.writer() as w:
        await w.write(b"y" * (BUFFER_BYTES + 1))
    assert _names(tmp_path) == []


def test_the_str_layout_is_the_schemas_layout(tmp_path: Path) -> None:
    sha = "ab" + "cd" + "e" * 60
    assert storage._object_str(str(tmp_path), sha) == str(path_for(tmp_path, sha))
