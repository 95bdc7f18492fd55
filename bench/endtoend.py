"""docfetch end to end: N `python -m consumer run --exit-when-idle` processes on fresh, pre-seeded topics.

The rate is jobs / (last FINALIZED - first PLANNED), from the records' timestamps in the state topic, so
process start-up, group join and the idle wait before exit are not counted; every job must be FINALIZED.

    .venv/bin/python -m bench.endtoend --jobs 2000 --processes 1 --guarantee exactly-once
    .venv/bin/python -m bench.endtoend --jobs 2000 --event-loops asyncio uvloop --repeats 3

With --event-loops each repeat runs one consumer per loop (DOCFETCH_EVENT_LOOP), back to back, and the
table adds CPU ms per job: the consumer processes' user+sys CPU (rusage of the reaped children: start-up,
group join and the idle wait before exit included) divided by jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import uuid
from pathlib import Path
from typing import Any

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
    settings: KafkaSettings,
    *,
    processes: int,
    guarantee: str,
    timeout_s: float,
    concurrency: int,
    env: dict[str, str] | None = None,
) -> None:
    """Start `processes` consumers, wait until all exit 0 (idle), kill them on any failure."""
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as root:
        options = ConsumerOptions(
            settings=settings,
            store=Path(root) / "store",
            concurrency=concurrency,
            guarantee=guarantee,
            exit_when_idle_s=IDLE_EXIT_S,
            env={**ENGINE_ENV, **(env or {})},
        )
        async with ProcessPool(Path(root) / "logs") as pool:
            members = [pool.consumer(f"c{i}", options) for i in range(processes)]
            for member in members:
                code = await member.wait(timeout_s)
                if code != 0:
                    raise RuntimeError(f"{member.name} exited {code}:\n{member.tail()}")


async def e2e_rate(bases: dict[str, str], jobs: int, **options: Any) -> float:
    """Jobs/s of consumers over `jobs` pre-seeded jobs on fresh topics (options: those of e2e_rate_cpu)."""
    rate, _ = await e2e_rate_cpu(bases, jobs, **options)
    return rate


async def e2e_rate_cpu(
    bases: dict[str, str],
    jobs: int,
    *,
    processes: int = 1,
    guarantee: str = "exactly-once",
    concurrency: int = CONCURRENCY,
    env: dict[str, str] | None = None,
) -> tuple[float, float]:
    """(jobs/s, consumer CPU ms per job) of `processes` consumers over `jobs` pre-seeded jobs."""
    settings = await seeded(bootstrap_servers(), bases, jobs, "e2e")
    before = _children_cpu_s()
    await run_consumers(settings, processes=processes, guarantee=guarantee, timeout_s=60 + jobs / 10,
                        concurrency=concurrency, env=env)  # fmt: skip
    cpu_ms_per_job = (_children_cpu_s() - before) * 1000 / jobs
    return finalized_rate(await read_all(settings, PARTITIONS), jobs), cpu_ms_per_job


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def compare_loops(bases: dict[str, str], args: argparse.Namespace) -> None:
    """One consumer per event loop per repeat, back to back; a Markdown table of medians."""
    runs: dict[str, list[tuple[float, float]]] = {loop: [] for loop in args.event_loops}
    for _ in range(args.repeats):
        for loop in args.event_loops:
            env = {"DOCFETCH_EVENT_LOOP": loop}
            runs[loop].append(asyncio.run(e2e_rate_cpu(bases, args.jobs, processes=args.processes,
                guarantee=args.guarantee, concurrency=args.concurrency, env=env)))  # fmt: skip
    print(f"| event loop | jobs/s, median [repeats] | CPU ms/job, median [repeats] |  ({args.jobs} jobs)")
    print("|---|---|---|")
    for loop, got in runs.items():
        rates = ", ".join(f"{r:.0f}" for r, _ in got)
        cpus = ", ".join(f"{c:.2f}" for _, c in got)
        rate, cpu = statistics.median(r for r, _ in got), statistics.median(c for _, c in got)
        print(f"| {loop} | {rate:,.0f} [{rates}] | {cpu:.2f} [{cpus}] |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--guarantee", default="exactly-once")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--event-loops", nargs="+", choices=("asyncio", "uvloop"), help="compare loops")
    parser.add_argument("--repeats", type=int, default=3, help="with --event-loops [3]")
    args = parser.parse_args()
    if args.event_loops:
        with running_farm() as bases:
            compare_loops(bases, args)
        return
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
