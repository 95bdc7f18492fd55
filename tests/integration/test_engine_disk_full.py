"""A full store (a 2 MiB tmpfs the test mounts, as root): storage-error, retryable, nothing left behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumer.fetch import Engine
from consumer.storage import Store
from originfarm import Farm
from schemas import Status, Tier
from schemas.artifacts import sidecar_path
from tests.integration.farm_fixtures import engine_settings, make_job, origin_farm

__all__ = ["origin_farm"]

TMPFS_BYTES = 2 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("the full-disk test mounts a tmpfs and must run as root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_full_disk_is_a_retryable_storage_error(origin_farm: Farm, small_disk: Path) -> None:
    settings = engine_settings(origin_farm)
    store = Store(small_disk, max_bytes=settings.max_bytes)
    small = make_job((Tier.OA_PDF, origin_farm.url("pdfs", "/pdf/500000/fits.pdf")))
    big = make_job((Tier.OA_PDF, origin_farm.url("pdfs", "/pdf/3000000/too-big.pdf")))
    async with Engine(settings=settings, store=store) as engine:
        fits = await engine.fetch(small)
        full = await engine.fetch(big)
    stored = fits.finalized
    assert fits.ok and stored is not None and stored.sha256 is not None
    assert full.status is Status.STORAGE_ERROR and full.status.retryable
    assert full.finalized is None and full.hops[-1].http_status == 200
    # The object and its sidecar; no temp file, no partial object.
    assert _files(small_disk) == [store.path_for(stored.sha256), sidecar_path(small_disk, stored.sha256)]
    assert origin_farm.stats.count("archive", "/robots.txt") == 0  # the job stopped: no fallback tiers
