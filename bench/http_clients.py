"""httpx 0.28 vs httpx2: download rate of 100 KiB PDFs from the origin farm (a separate process).

    .venv/bin/python -m bench.http_clients [--downloads 400] [--concurrency 16] [--repeats 5]

Both clients stream each body in 64 KiB chunks, as the engine does; runs alternate between the clients so
machine noise hits both alike; the table shows the median and the spread of the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from types import ModuleType

import httpx
import httpx2

from bench.common import REPO

PDF_BYTES = 100 * 1024
CHUNK_BYTES = 64 * 1024
HOSTS = ("pdfs", "repo", "polite")  # spread over three simulated hosts, as a real crawl would be


def start_farm() -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "originfarm", "serve", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    bases: dict[str, str] = {}
    while "stats" not in bases:
        name, _, base = proc.stdout.readline().strip().partition("\t")
        bases[name] = base
    return proc, bases


async def one_run(lib: ModuleType, bases: dict[str, str], *, downloads: int, concurrency: int) -> float:
    """MiB/s for `downloads` GETs with at most `concurrency` in flight."""
    slots = asyncio.Semaphore(concurrency)
    total = 0

    async def get(client: httpx.AsyncClient, i: int) -> None:
        nonlocal total
        url = f"{bases[HOSTS[i % len(HOSTS)]]}/pdf/{PDF_BYTES}/b{i}.pdf"
        async with slots, client.stream("GET", url) as response:
            async for chunk in response.aiter_bytes(CHUNK_BYTES):
                total += len(chunk)

    limits = lib.Limits(max_connections=concurrency)
    async with lib.AsyncClient(limits=limits, trust_env=False) as client:
        started = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for i in range(downloads):
                tg.create_task(get(client, i))
        elapsed = time.perf_counter() - started
    assert total == downloads * PDF_BYTES, total
    return total / elapsed / 2**20


async def main_async(args: argparse.Namespace, bases: dict[str, str]) -> dict[str, list[float]]:
    libs = {f"httpx {httpx.__version__}": httpx, f"httpx2 {httpx2.__version__}": httpx2}
    rates: dict[str, list[float]] = {name: [] for name in libs}
    for lib in libs.values():  # warm-up: imports, first connections
        await one_run(lib, bases, downloads=args.concurrency, concurrency=args.concurrency)
    for _ in range(args.repeats):
        for name, lib in libs.items():
            rates[name].append(
                await one_run(lib, bases, downloads=args.downloads, concurrency=args.concurrency)
            )
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--downloads", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    proc, bases = start_farm()
    try:
        rates = asyncio.run(main_async(args, bases))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(
        f"{args.downloads} x {PDF_BYTES // 1024} KiB, concurrency {args.concurrency}, {args.repeats} repeats"
    )
    print(f"{'client':<16} {'median MiB/s':>12} {'min':>8} {'max':>8}  runs")
    for name, values in rates.items():
        runs = " ".join(f"{v:.1f}" for v in values)
        print(
            f"{name:<16} {statistics.median(values):>12.1f} {min(values):>8.1f} {max(values):>8.1f}  {runs}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
