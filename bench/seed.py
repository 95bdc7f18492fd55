"""Seeding throughput and memory vs the ceiling (a bare aiokafka producer sending the same messages).

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 python bench/seed.py --sizes 100000 1000000 --repeats 3 \
        [--mapping-workers 1 2]

For each size: generate an OpenAlex-shaped file (bench/gen_openalex.py, cached in --dir), pre-encode its
job messages once, then per repeat and on fresh topics run (a) the ceiling: a child process with a bare
AIOKafkaProducer (same settings as the seeder) sending the pre-encoded messages from memory, and (b)
`docfetch-producer seed FILE --mapping-workers N` for each N given. Ratio = median of the per-repeat
seed/ceiling ratios. Rates are jobs acknowledged per second from producer start to the last
acknowledgement; peak memory is the largest sum of VmRSS over the seed process and its mapping workers,
sampled every 100 ms. Prints one Markdown table of medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from producer.commands import topics  # noqa: E402
from producer.commands.jobmapping import outcome_batches  # noqa: E402
from producer.commands.jobsender import LINGER_MS, MAX_BATCH_BYTES  # noqa: E402
from schemas import KafkaSettings  # noqa: E402

PARTITIONS = 6
SAMPLE_S = 0.1


def generate(size: int, directory: Path) -> Path:
    path = directory / f"works-{size}.jsonl"
    if not path.exists():
        with path.open("wb") as out:
            subprocess.run(
                [sys.executable, str(REPO / "bench/gen_openalex.py"), str(size)], stdout=out, check=True
            )
    return path


def pre_encode(works: Path) -> Path:
    """key and value of every job message, length-prefixed, for the ceiling child."""
    path = works.with_suffix(".encoded")
    if not path.exists():
        with path.open("wb") as out:
            for _pos, batch in outcome_batches(str(works), "openalex"):
                for _kind, _line, job_id, value in batch:
                    key = job_id.encode()
                    out.write(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
    return path


def load_encoded(encoded: str) -> list[tuple[bytes, bytes]]:
    data, messages, i = Path(encoded).read_bytes(), [], 0
    while i < len(data):
        klen = int.from_bytes(data[i : i + 4], "big")
        key = data[i + 4 : i + 4 + klen]
        i += 4 + klen
        vlen = int.from_bytes(data[i : i + 4], "big")
        messages.append((key, data[i + 4 : i + 4 + vlen]))
        i += 4 + vlen
    return messages


async def ceiling_child(
    messages: list[tuple[bytes, bytes]], topic: str, bootstrap: str, compression: str
) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        **KafkaSettings(bootstrap_servers=bootstrap).client_options(), enable_idempotence=True, acks="all",
        linger_ms=LINGER_MS, max_batch_size=MAX_BATCH_BYTES,
        compression_type=None if compression == "none" else compression,
    )  # fmt: skip
    started = time.monotonic()
    await producer.start()
    futures = [await producer.send(topic, value, key=key) for key, value in messages]
    await producer.flush()
    await asyncio.gather(*futures)
    await producer.stop()
    print(f"rate={len(messages) / (time.monotonic() - started):.0f}")


def _tree_rss_kib(pid: int) -> int:
    total, pids = 0, [pid]
    while pids:
        p = pids.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
            for task in Path(f"/proc/{p}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total


def run_measured(argv: list[str]) -> tuple[str, int]:
    """(stdout, peak KiB of the process tree)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kib(proc.pid))
        time.sleep(SAMPLE_S)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}: {out[-2000:]}")
    return out, peak


def fresh_topics(bootstrap: str) -> KafkaSettings:
    tag = uuid.uuid4().hex[:8]
    settings = KafkaSettings(bootstrap_servers=bootstrap, jobs_topic=f"bench-jobs-{tag}",
                             state_topic=f"bench-state-{tag}", dlq_topic=f"bench-dlq-{tag}")  # fmt: skip
    asyncio.run(topics.ensure(settings, partitions=PARTITIONS, replication=1))
    return settings


def one_seed(works: Path, bootstrap: str, compression: str, workers: int) -> tuple[float, int]:
    settings = fresh_topics(bootstrap)
    topic_flags = ["--jobs-topic", settings.jobs_topic, "--state-topic", settings.state_topic,
                   "--dlq-topic", settings.dlq_topic]  # fmt: skip
    out, peak = run_measured([sys.executable, "-m", "producer", "seed", str(works), "--quiet",
                              "--compression", compression, "--mapping-workers", str(workers),
                              "--bootstrap", bootstrap, *topic_flags])  # fmt: skip
    return float(re.search(r" rate=(\d+) jobs/s", out).group(1)), peak  # type: ignore[union-attr]


def one_repeat(
    works: Path, encoded: Path, bootstrap: str, compression: str, workers: list[int]
) -> tuple[float, list[tuple[float, int]]]:
    """The ceiling, then one seed per --mapping-workers count, back to back."""
    settings = fresh_topics(bootstrap)
    out, _ = run_measured([sys.executable, __file__, "_ceiling", str(encoded), settings.jobs_topic,
                           bootstrap, compression])  # fmt: skip
    ceiling = float(out.split("rate=")[1])
    return ceiling, [one_seed(works, bootstrap, compression, n) for n in workers]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compression", default="none")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/docfetch-bench"))
    parser.add_argument("--mapping-workers", type=int, nargs="+", default=[2],
                        help="seed once per count, side by side with the ceiling (2)")  # fmt: skip
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    args.dir.mkdir(parents=True, exist_ok=True)
    print("| works | compression | mapping workers | seed jobs/s | ceiling jobs/s | ratio | "
          "seed peak RSS MiB | runs (seed/ceiling/MiB) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        works = generate(size, args.dir)
        encoded = pre_encode(works)
        runs = [one_repeat(works, encoded, bootstrap, args.compression, args.mapping_workers)
                for _ in range(args.repeats)]  # fmt: skip
        ceiling = statistics.median(c for c, _ in runs)
        for i, workers in enumerate(args.mapping_workers):
            seeds = [(c, seeds[i]) for c, seeds in runs]
            seed = statistics.median(s for _, (s, _) in seeds)
            ratio = statistics.median(s / c for c, (s, _) in seeds)
            peak = statistics.median(p for _, (_, p) in seeds) / 1024
            detail = "; ".join(f"{s:.0f}/{c:.0f}/{p / 1024:.0f}" for c, (s, p) in seeds)
            print(f"| {size} | {args.compression} | {workers} | {seed:.0f} | {ceiling:.0f} | {ratio:.0%} | "
                  f"{peak:.0f} | {detail} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["_ceiling"]:
        encoded, topic, bootstrap, compression = sys.argv[2:6]
        asyncio.run(ceiling_child(load_encoded(encoded), topic, bootstrap, compression))
    else:
        main()
