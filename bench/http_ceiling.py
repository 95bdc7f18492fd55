"""Ceiling 2: the HTTP side alone. The download engine fetches the benchmark jobs in-process, no Kafka.

Same jobs, URLs, concurrency and artifact store writes (temp file, sha256, fsync, rename) as the consumer.

    .venv/bin/python -m bench.http_ceiling --jobs 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import job
from bench.farm import CONCURRENCY, pdf_url, running_farm
from consumer.fetch import Engine, EngineSettings
from consumer.storage import Store
from schemas import Status

SETTINGS = EngineSettings(allow_private_hosts=True, host_min_interval_s=0, host_concurrency=1000)


async def engine_rate(bases: dict[str, str], jobs: int, *, concurrency: int = CONCURRENCY) -> float:
    """Jobs/s for `jobs` downloads of 100 KiB PDFs with at most `concurrency` in flight."""
    todo = [job(i, pdf_url(bases, i)) for i in range(jobs)]
    slots = asyncio.Semaphore(concurrency)
    with tempfile.TemporaryDirectory(prefix="bench-http-") as root:
        store = Store(Path(root), max_bytes=SETTINGS.max_bytes)
        async with Engine(settings=SETTINGS, store=store) as engine:

            async def one(item: object) -> None:
                async with slots:
                    outcome = await engine.fetch(item)  # type: ignore[arg-type]
                assert outcome.status is Status.SUCCESS, outcome

            started = time.perf_counter()
            async with asyncio.TaskGroup() as tg:
                for item in todo:
                    tg.create_task(one(item))
            return jobs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with running_farm() as bases:
        rates = [asyncio.run(engine_rate(bases, args.jobs)) for _ in range(args.repeats)]
    runs = ", ".join(f"{r:.0f}" for r in rates)
    print(f"http ceiling: median {statistics.median(rates):,.0f} jobs/s ({runs})")


if __name__ == "__main__":
    main()
