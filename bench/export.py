"""Export: time and peak RSS of `docfetch-producer export` over N state records.

Writes N state records to a fresh state topic (PARTITIONS partitions): N/2 jobs, each a PLANNED record and
then its terminal one (9 in 10 FINALIZED, shaped like the consumer's), plus one job message with a DOI per
job on the jobs topic; then runs the real CLI in a child process writing JSONL to a file and reports its
wall time and peak RSS (the child's ru_maxrss).

    .venv/bin/python -m bench.export --records 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from bench.common import REPO, bootstrap_servers, fresh_topics
from schemas import KafkaSettings

PARTITIONS = 4
TS_MS = 1_764_000_000_000


def state_records(i: int) -> list[tuple[bytes, bytes]]:
    """The PLANNED and terminal record of job i (the terminal one ~600 bytes of JSON, like the consumer's)."""
    job_id = f"{i:064x}"
    url = f"http://127.0.0.11:8970/pdf/102400/b{i}.pdf"
    base = {"schema": 1, "job_id": job_id, "work_id": f"W{i:09d}", "state": "PLANNED", "status": None,
            "attempt": 0, "owner": "bench-host-1234-abcdef", "epoch": 3, "source_partition": i % PARTITIONS,
            "source_offset": i, "ts_ms": TS_MS + i}  # fmt: skip
    hops = [{"url": url, "tier": "oa_pdf", "http_status": 200, "note": None}]
    if i % 10:
        final = {**base, "state": "FINALIZED", "status": "success", "sha256": f"{i * 7919:064x}",
                 "size": 102400, "mimetype": "application/pdf", "final_url": url, "tier": "oa_pdf",
                 "hops": hops}  # fmt: skip
    else:
        final = {**base, "state": "FAILED", "status": "not-found", "hops": hops, "detail": "HTTP 404"}
    return [(job_id.encode(), orjson.dumps(base)), (job_id.encode(), orjson.dumps(final))]


def job_message(i: int) -> tuple[bytes, bytes]:
    job_id = f"{i:064x}"
    value = {"schema": 1, "job_id": job_id, "work_id": f"W{i:09d}", "doi": f"10.5555/bench.{i}",
             "candidates": [{"url": f"http://127.0.0.11:8970/pdf/102400/b{i}.pdf", "tier": "oa_pdf"}],
             "wanted": "pdf", "source": "bench", "seeded_at_ms": TS_MS, "attempt": 0}  # fmt: skip
    return job_id.encode(), orjson.dumps(value)


async def write(bootstrap: str, topic: str, jobs: int, records_of: object) -> None:
    options = KafkaSettings(bootstrap_servers=bootstrap).client_options()
    producer = AIOKafkaProducer(**options, acks=1, linger_ms=50, max_batch_size=2**20)
    await producer.start()
    try:
        futures = []
        for part in range(PARTITIONS):
            batch = producer.create_batch()
            for i in range(part, jobs, PARTITIONS):
                for key, value in records_of(i):  # type: ignore[operator]
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        futures.append(await producer.send_batch(batch, topic, partition=part))
                        batch = producer.create_batch()
                        batch.append(key=key, value=value, timestamp=None)
            futures.append(await producer.send_batch(batch, topic, partition=part))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def prepare(records: int) -> tuple[str, str, str]:
    bootstrap = bootstrap_servers()
    settings = await fresh_topics(bootstrap, f"bench-export-{uuid.uuid4().hex[:8]}", PARTITIONS)
    jobs = records // 2
    await write(bootstrap, settings.state_topic, jobs, state_records)
    await write(bootstrap, settings.jobs_topic, jobs, lambda i: [job_message(i)])
    return bootstrap, settings.jobs_topic, settings.state_topic


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    bootstrap, jobs_topic, state_topic = asyncio.run(prepare(args.records))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "export.jsonl")
        argv = [sys.executable, "-m", "producer", "export", "-o", str(out), "--bootstrap", bootstrap,
                "--jobs-topic", jobs_topic, "--state-topic", state_topic]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"export exited {done.returncode}: {done.stderr[-2000:]}")
        rows = sum(1 for _ in out.open())
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"export: {args.records} state records ({args.records // 2} jobs), {rows} rows exported "
          f"in {seconds:.1f} s ({args.records / seconds:,.0f} records/s), peak RSS {peak_mib:.0f} MiB "
          f"[{done.stderr.strip()}]")  # fmt: skip


if __name__ == "__main__":
    main()
