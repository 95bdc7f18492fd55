"""`make bench`: every benchmark of issue 7 side by side, medians of repeats, one Markdown table.

    .venv/bin/python bench/run_all.py            # default sizes, ~25 min on 2 cores
    .venv/bin/python bench/run_all.py --quick    # smoke run, ~5 min

Contenders alternate inside each repeat, so machine noise hits them alike. One origin farm process (100 KiB
PDFs on three loopback hosts) serves every HTTP contender; Kafka is KAFKA_BOOTSTRAP_SERVERS or the
scripts/kafka-local broker. Each measurement's module runs alone too (`python -m bench.<module> --help`).
Last, the internet-shaped origin of issue 15 (bench.internet, its defaults: 100 hosts, 200 ms, 32 KiB,
C=256, politeness off) in its own table, --internet-jobs per contender, the same repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import internet, kafka_ceiling
from bench.common import bootstrap_servers, fresh_topics, preload
from bench.endtoend import e2e_rate
from bench.farm import CONCURRENCY, pdf_url, running_farm
from bench.http_ceiling import engine_rate
from bench.latency import latencies, percentiles
from bench.peer_scrapy import scrapy_rate
from bench.restore import VARIANTS, prepared_topic, run_child

Rates = dict[str, list[float]]


async def kafka_loop(run: Callable[..., object], jobs: int) -> float:
    settings = await fresh_topics(bootstrap_servers(), f"bench-ceil-{uuid.uuid4().hex[:6]}", 12)
    await preload(settings, jobs)
    return await run(settings, jobs)  # type: ignore[misc,no-any-return]


def contenders(args: argparse.Namespace, bases: dict[str, str]) -> dict[str, Callable[[], float]]:
    """Name -> one measurement in jobs/s (each on fresh topics, a fresh store and fresh URLs)."""
    n = args.jobs

    def e2e(**kw: object) -> Callable[[], float]:
        return lambda: asyncio.run(e2e_rate(bases, n, **kw))

    return {
        "kafka loop EOS": lambda: asyncio.run(kafka_loop(kafka_ceiling.exactly_once, args.kafka_jobs)),
        "kafka loop ALO": lambda: asyncio.run(kafka_loop(kafka_ceiling.at_least_once, args.kafka_jobs)),
        "http engine alone": lambda: asyncio.run(engine_rate(bases, n)),
        "docfetch 1 proc EOS": e2e(guarantee="exactly-once"),
        "docfetch 1 proc ALO": e2e(guarantee="at-least-once"),
        "docfetch 2 proc EOS": e2e(processes=2),
        "docfetch 4 proc EOS": e2e(processes=4),
        "docfetch 1 proc EOS conc 64": e2e(concurrency=64),
        "scrapy": lambda: scrapy_rate([pdf_url(bases, i, "s") for i in range(n)], CONCURRENCY),
    }


def throughput(args: argparse.Namespace, bases: dict[str, str]) -> Rates:
    runs: Rates = {}
    for repeat in range(args.repeats):
        for name, measure in contenders(args, bases).items():
            rate = measure()
            runs.setdefault(name, []).append(rate)
            print(f"repeat {repeat} {name}: {rate:,.0f} jobs/s", file=sys.stderr, flush=True)
    return runs


def verdict(value: float, target: float) -> str:
    return f"{'met' if value >= target else 'NOT met'} (target ≥ {target:g})"


def report(runs: Rates, restore: list[dict[str, Any]], lat: tuple[float, float]) -> None:
    med = {name: statistics.median(values) for name, values in runs.items()}
    ceiling = {g: 1 / (1 / med[f"kafka loop {g}"] + 1 / med["http engine alone"]) for g in ("EOS", "ALO")}
    print("| measurement | median jobs/s | runs | ratio | target |\n|---|---|---|---|---|")
    for name, values in runs.items():
        ratio, target = "", ""
        guarantee = name.split()[-1] if name.startswith("docfetch 1 proc") else ""
        if guarantee in ceiling:
            ratio = f"{med[name] / ceiling[guarantee]:.2f} of ceiling"
            target = verdict(med[name] / ceiling[guarantee], 0.8)
        elif name.startswith("docfetch"):
            ratio = f"{med[name] / med['docfetch 1 proc EOS']:.2f} x 1 proc"
        elif name == "scrapy":
            ratio = f"docfetch EOS / scrapy = {med['docfetch 1 proc EOS'] / med[name]:.2f}"
            target = verdict(med["docfetch 1 proc EOS"] / med[name], 1.2)
        runs_text = " ".join(f"{v:.0f}" for v in values)
        print(f"| {name} | {med[name]:,.0f} | {runs_text} | {ratio} | {target} |")
    for g, value in ceiling.items():
        print(f"| single-process ceiling {g} (harmonic) | {value:,.0f} | | | |")
    eos_alo = med["docfetch 1 proc EOS"] / med["docfetch 1 proc ALO"]
    print(f"| EOS / ALO | {eos_alo:.2f} | | | {verdict(eos_alo, 0.95)} |")
    print("\n| restore variant | records | seconds | records/s | peak RSS MiB | added MiB | x bare "
          "| target |\n|---|---|---|---|---|---|---|---|")  # fmt: skip
    for row in restore_rows(restore):
        print(row)
    p50, p99 = lat
    met = "met" if p50 <= 120 and p99 <= 250 else "NOT met"
    print(f"\nlatency seed -> FINALIZED visible (read_committed): p50 {p50:.0f} ms, p99 {p99:.0f} ms: "
          f"{met} (target p50 ≤ 120, p99 ≤ 250)")  # fmt: skip


def restore_rows(restore: list[dict[str, Any]]) -> list[str]:
    """One row per variant; a persistent cold restore beside bare getmany the same way (target ≥ 0.9 x)."""
    bare = {r["variant"].split("-")[1]: float(r["rate"]) for r in restore if r["variant"].startswith("bare")}
    rows = []
    for r in restore:
        variant, rate = str(r["variant"]), float(r["rate"])
        side = bare.get(variant.split("-")[1]) if variant.startswith("persist") else None
        ratio, target = (f"{rate / side:.2f}", verdict(rate / side, 0.9)) if side else ("", "")
        rows.append(f"| {variant} | {r['records']:,} | {r['seconds']:.2f} | {rate:,.0f} | "
                    f"{r['peak_mib']:.0f} | {r['added_mib']:.0f} | {ratio} | {target} |")  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--jobs", type=int, help="downloads per throughput run [1500; quick 400]")
    parser.add_argument("--kafka-jobs", type=int, help="records per Kafka-loop run [20000; quick 5000]")
    parser.add_argument("--repeats", type=int, help="[3; quick 1]")
    parser.add_argument("--restore-records", type=int, help="[1000000; quick 100000]")
    parser.add_argument("--latency-jobs", type=int, help="one every 100 ms [200; quick 50]")
    parser.add_argument(
        "--internet-jobs", type=int, help="bench.internet jobs per contender [2000; quick 400]"
    )
    args = parser.parse_args()
    defaults = (400, 5000, 1, 100_000, 50, 400) if args.quick else (1500, 20_000, 3, 1_000_000, 200, 2000)
    names = ("jobs", "kafka_jobs", "repeats", "restore_records", "latency_jobs", "internet_jobs")
    for name, value in zip(names, defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    logging.basicConfig(level=logging.ERROR)  # aiokafka's retry warnings on fresh topics are noise here
    print(f"# bench: {vars(args)}", file=sys.stderr, flush=True)
    with running_farm() as bases:
        runs = throughput(args, bases)
        lat = percentiles(asyncio.run(latencies(bases, args.latency_jobs, 0.1)))
    bootstrap, topic = asyncio.run(prepared_topic(args.restore_records))
    restore = [run_child(v, bootstrap, topic, args.restore_records) for v in VARIANTS]
    shape = internet.shape_of(internet.parser().parse_args(["--jobs", str(args.internet_jobs)]))
    inet = internet.measure(shape, args.repeats, internet.CONTENDERS, None)
    report(runs, restore, lat)
    print(f"\n## Internet-shaped origin (bench.internet)\n\n{internet.table(shape, inet)}")


if __name__ == "__main__":
    main()
