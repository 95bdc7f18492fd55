"""docfetch end to end: N `python -m consumer run --exit-when-idle` processes on fresh, pre-seeded topics.

The rate is jobs / (last FINALIZED - first PLANNED), from the records' timestamps in the state topic, so
process start-up, group join and the idle wait before exit are not counted; every job must be FINALIZED.

    .venv/bin/python -m bench.endtoend --jobs 2000 --processes 1 --guarantee exactly-once
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from pathlib import Path

from bench.common import bootstrap_servers, fresh_topics, preload
from bench.farm import CONCURRENCY, ENGINE_ENV, pdf_url, running_farm
from bench.statetopic import finalized_rate, read_all
from schemas import KafkaSettings
from tests.faults.harness.process import ConsumerOptions, ProcessPool

PARTITIONS = 12
IDLE_EXIT_S = 2.0


async def seeded(bootstrap: str, bases: dict[str, str], jobs: int, tag: str) -> KafkaSettings:
    settings = await fresh_topics(bootstrap, f"bench-{tag}-{uuid.uuid4().hex[:6]}", PARTITIONS)
    await preload(settings, jobs, lambda i: pdf_url(bases, i, tag))
    return settings


async def run_consumers(
    settings: KafkaSettings, *, processes: int, guarantee: str, timeout_s: float, concurrency: int
) -> None:
    """Start `processes` consumers, wait until all exit 0 (idle), kill them on any failure."""
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as root:
        options = ConsumerOptions(
            settings=settings,
            store=Path(root) / "store",
            concurrency=concurrency,
            guarantee=guarantee,
            exit_when_idle_s=IDLE_EXIT_S,
            env=ENGINE_ENV,
        )
        async with ProcessPool(Path(root) / "logs") as pool:
            members = [pool.consumer(f"c{i}", options) for i in range(processes)]
            for member in members:
                code = await member.wait(timeout_s)
                if code != 0:
                    raise RuntimeError(f"{member.name} exited {code}:\n{member.tail()}")


async def e2e_rate(
    bases: dict[str, str],
    jobs: int,
    *,
    processes: int = 1,
    guarantee: str = "exactly-once",
    concurrency: int = CONCURRENCY,
) -> float:
    """Jobs/s of `processes` consumers over `jobs` pre-seeded jobs on fresh topics."""
    settings = await seeded(bootstrap_servers(), bases, jobs, "e2e")
    await run_consumers(
        settings, processes=processes, guarantee=guarantee, timeout_s=60 + jobs / 10, concurrency=concurrency
    )
    return finalized_rate(await read_all(settings, PARTITIONS), jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--guarantee", default="exactly-once")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    args = parser.parse_args()
    with running_farm() as bases:
        rate = asyncio.run(
            e2e_rate(
                bases,
                args.jobs,
                processes=args.processes,
                guarantee=args.guarantee,
                concurrency=args.concurrency,
            )
        )
    what = f"{args.processes} x {args.guarantee}, concurrency {args.concurrency}"
    print(f"end to end ({what}): {rate:,.0f} jobs/s")


if __name__ == "__main__":
    main()
