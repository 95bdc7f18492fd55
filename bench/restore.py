"""Restore: time and peak memory to restore N state records (FINALIZED-sized) into one process.

The records are written once to a fresh state topic of PARTITIONS partitions; then each variant runs in a
child process (its own maxrss):

- `restore-seq`: consumer.restore.restore in memory (no state dir), one partition after another;
- `restore-par`: the same, all partitions at once (what a consumer assigned several partitions does);
- `restore-big`: restore-par with larger fetches (consumer.restore's fetch constants raised in the child);
- `restore-fast`: restore-par with a candidate `StateStore.apply` (`fast_apply` below: the Kafka key as the
  job id, state and attempt found in the raw bytes, full JSON decode only as a fallback);
- `persist-seq` / `persist-par`: consumer.restore.restore into persistent stores (RocksDB, a fresh state
  dir: a cold restore), one by one / all at once; its rate over the bare rate is the cold-restore ratio;
- `bare-seq` / `bare-par`: bare AIOKafkaConsumer.getmany to the end offset, no decoding (aiokafka's default
  fetch sizes, 1 MiB); `bare8-*`: the same with the restore's fetch size (consumer.restore.FETCH_MAX_BYTES).

`--warm`: one partition of N records instead: bare getmany (both fetch sizes), a cold persistent restore,
then 10,000 new records and a warm restore from the checkpoint (each in its own child: time, RSS added
after the restore and peak).

    .venv/bin/python -m bench.restore --records 1000000
    .venv/bin/python -m bench.restore --records 1000000 --warm
    .venv/bin/python -m bench.restore --records 5000000 --warm --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.common import REPO, bootstrap_servers, fresh_topics
from schemas import KafkaSettings

PARTITIONS = 4
VARIANTS = (
    "bare-seq", "restore-seq", "persist-seq", "bare-par", "restore-par", "persist-par", "restore-big",
    "restore-fast",
)  # fmt: skip
WARM_VARIANTS = ("bare-one", "bare8-one", "cold-one")  # then WARM_NEW records are written, then "warm-one"
WARM_NEW = 10_000
# orjson writes StateRecord fields in declaration order: state, status, attempt are adjacent.
STATE_ATTEMPT = re.compile(rb'"state":"([A-Z]+)","status":(?:null|"[a-z-]+"),"attempt":(\d+)')
BIG_FETCH = {"FETCH_MAX_BYTES": 64 * 2**20}


def state_record(i: int) -> tuple[bytes, bytes]:
    """A FINALIZED record shaped like the consumer's (~650 bytes of JSON)."""
    job_id = f"{i:064x}"
    url = f"http://127.0.0.11:8970/pdf/102400/b{i}.pdf"
    value = orjson.dumps(
        {"schema": 1, "job_id": job_id, "work_id": f"W{i:09d}", "state": "FINALIZED",
         "status": "success", "attempt": 0, "owner": "bench-host-1234-abcdef", "epoch": 3,
         "source_partition": i % PARTITIONS, "source_offset": i, "ts_ms": 1_764_000_000_000 + i,
         "sha256": f"{i * 7919:064x}", "size": 102400, "mimetype": "application/pdf",
         "final_url": url, "tier": "oa_pdf", "detail": None,
         "hops": [{"url": url, "tier": "oa_pdf", "status_code": 200, "outcome": "success"}]}
    )  # fmt: skip
    return job_id.encode(), value


async def write_records(
    bootstrap: str, topic: str, count: int, *, partitions: int = PARTITIONS, first: int = 0
) -> None:
    producer = AIOKafkaProducer(
        **KafkaSettings(bootstrap_servers=bootstrap).client_options(),
        acks=1,
        linger_ms=50,
        max_batch_size=2**20,
    )
    await producer.start()
    try:
        futures = []
        for part in range(partitions):
            batch = producer.create_batch()
            for i in range(first + part, first + count, partitions):
                key, value = state_record(i)
                if batch.append(key=key, value=value, timestamp=None) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=part))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            futures.append(await producer.send_batch(batch, topic, partition=part))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def bare(bootstrap: str, topic: str, partition: int, fetch_bytes: int | None = None) -> int:
    tp = TopicPartition(topic, partition)
    sizes = (
        {}
        if fetch_bytes is None
        else {"fetch_max_bytes": fetch_bytes, "max_partition_fetch_bytes": fetch_bytes}
    )
    reader = AIOKafkaConsumer(
        **KafkaSettings(bootstrap_servers=bootstrap).client_options(),
        isolation_level="read_committed",
        enable_auto_commit=False,
        **sizes,
    )
    await reader.start()
    count = 0
    try:
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        end = (await reader.end_offsets([tp]))[tp]
        while await reader.position(tp) < end:
            batch = await reader.getmany(tp, timeout_ms=200, max_records=50_000)
            count += len(batch.get(tp, ()))
    finally:
        await reader.stop()
    return count


def fast_apply(store: object, key: bytes | None, raw: bytes | None) -> None:
    """Candidate StateStore.apply: no full JSON decode on the common path."""
    from consumer import statestore

    match = STATE_ATTEMPT.search(raw) if raw is not None and key is not None else None
    if match is None:
        statestore.StateStore.apply(store, key, raw)  # type: ignore[arg-type]
        return
    state = statestore._STATES[match[1].decode()]
    store.latest[key.decode("ascii")] = (state, int(match[2]))  # type: ignore[attr-defined,union-attr]


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


async def child(variant: str, bootstrap: str, topic: str, state: str = "") -> dict[str, object]:
    from consumer import restore, statestore
    from consumer.statedir import StateDir

    if variant == "restore-fast":
        statestore.StateStore.apply = fast_apply  # type: ignore[method-assign]
    if variant == "restore-big":
        for name, value in BIG_FETCH.items():
            setattr(restore, name, value)
    persistent = variant.startswith(("persist", "cold", "warm"))
    states = (
        StateDir(Path(state or tempfile.mkdtemp(prefix="bench-state-")), max_bytes=2**40,
                 cache_bytes=64 * 2**20, cluster_id="bench")
        if persistent else None
    )  # fmt: skip
    baseline_kib, baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rss_mib()

    def one(p: int) -> object:
        if variant.startswith("bare8"):
            return bare(bootstrap, topic, p, restore.FETCH_MAX_BYTES)
        if variant.startswith("bare"):
            return bare(bootstrap, topic, p)
        return restore.restore(
            kafka=KafkaSettings(bootstrap_servers=bootstrap, state_topic=topic), partition=p, state_dir=states
        )

    partitions = 1 if variant.endswith("one") else PARTITIONS
    started = time.perf_counter()
    if variant.endswith(("seq", "one")):
        results = [await one(p) for p in range(partitions)]  # type: ignore[misc]
    else:
        results = await asyncio.gather(*(one(p) for p in range(partitions)))  # type: ignore[misc]
    seconds = time.perf_counter() - started
    records = sum(r if isinstance(r, int) else r[1].records for r in results)
    peak_kib, after_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rss_mib()
    if states is not None:
        states.close_all()
    return {"variant": variant, "records": records, "seconds": seconds, "rate": records / seconds,
            "peak_mib": peak_kib / 1024, "added_mib": (peak_kib - baseline_kib) / 1024,
            "rss_added_after_mib": after_rss - baseline_rss}  # fmt: skip


def run_child(variant: str, bootstrap: str, topic: str, records: int, state: str = "") -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.restore", "_child", variant, bootstrap, topic, state],
        cwd=REPO, capture_output=True, text=True, timeout=120 + records / 5_000,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"restore child {variant} exited {out.returncode}: {out.stderr[-2000:]}")
    result: dict[str, object] = orjson.loads(out.stdout.strip().splitlines()[-1])
    if result["records"] != records:
        raise RuntimeError(f"{variant} restored {result['records']} of {records}")
    return result


async def prepared_topic(records: int, partitions: int = PARTITIONS) -> tuple[str, str]:
    bootstrap = bootstrap_servers()
    settings = await fresh_topics(bootstrap, f"bench-restore-{uuid.uuid4().hex[:6]}", partitions)
    await write_records(bootstrap, settings.state_topic, records, partitions=partitions)
    return bootstrap, settings.state_topic


def warm(records: int, repeats: int = 1) -> None:
    """One partition of `records`: bare (both fetch sizes) and cold persistent, `repeats` times in a rotating
    order (each cold restore into a new state dir), then WARM_NEW more records and a warm restore into the
    last cold one. Ratios: per repeat (cold over bare of the same repeat), and their medians."""
    bootstrap, topic = asyncio.run(prepared_topic(records, partitions=1))
    ratios: dict[str, list[float]] = {"bare-one": [], "bare8-one": []}
    state = ""
    for repeat in range(repeats):
        if state:
            shutil.rmtree(state, ignore_errors=True)
        state, results = tempfile.mkdtemp(prefix="bench-state-"), {}
        for variant in WARM_VARIANTS[repeat % 3 :] + WARM_VARIANTS[: repeat % 3]:
            results[variant] = run_child(variant, bootstrap, topic, records, state)
            print(orjson.dumps(results[variant]).decode(), flush=True)
        cold = float(results["cold-one"]["rate"])  # type: ignore[arg-type]
        for bare_ in ratios:
            ratios[bare_].append(cold / float(results[bare_]["rate"]))  # type: ignore[arg-type]
        print(f"repeat {repeat + 1}: cold/bare {ratios['bare-one'][-1]:.2f}; "
              f"cold/bare8 {ratios['bare8-one'][-1]:.2f}", flush=True)  # fmt: skip
    asyncio.run(write_records(bootstrap, topic, WARM_NEW, partitions=1, first=records))
    warm_ = run_child("warm-one", bootstrap, topic, WARM_NEW, state)
    print(orjson.dumps(warm_).decode(), flush=True)
    medians = {bare_: statistics.median(values) for bare_, values in ratios.items()}
    print(f"median cold/bare {medians['bare-one']:.2f}; median cold/bare8 {medians['bare8-one']:.2f}; "
          f"warm {warm_['seconds']:.3f}s", flush=True)  # fmt: skip
    shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--warm", action="store_true", help="one partition: cold, then warm restore")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    if args.warm:
        warm(args.records, args.repeats)
        return
    bootstrap, topic = asyncio.run(prepared_topic(args.records))
    for _ in range(args.repeats):
        for variant in args.variants.split(","):
            print(orjson.dumps(run_child(variant, bootstrap, topic, args.records)).decode(), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_child"]:
        print(orjson.dumps(asyncio.run(child(*sys.argv[2:6]))).decode())
    else:
        main()
