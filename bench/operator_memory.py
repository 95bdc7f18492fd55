"""Operator commands' memory: peak RSS and wall time of `status`, `audit`, `requeue` over N state records.

Seeds fresh topics per size (PARTITIONS partitions): N state records for N/2 jobs (a PLANNED, then a
terminal record: 9 in 10 FINALIZED, shaped like the consumer's, bench.export) and one job message per
job. `requeue` is `requeue --force-final --dry-run --json`: it selects the 9 in 10 FINALIZED jobs and
prints every one (to a temporary file). The FINALIZED records name OBJECTS distinct small objects,
written to a store directory, so the audit is clean (exit 0). Then runs the real CLI of each tree
(`--tree NAME=PATH`, e.g. main's checkout for "before") as a child process, interleaved, and reads
each child's own peak RSS (os.wait4).

    .venv/bin/python -m bench.operator_memory --records 200000,1000000 --tree main=/work/main --tree this=.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from bench.common import REPO, bootstrap_servers, fresh_topics
from bench.export import PARTITIONS, job_message, state_records, write
from schemas import KafkaSettings
from schemas.artifacts import object_path

OBJECTS = 64
COMMANDS = ("status", "audit", "requeue")


def content(n: int) -> bytes:
    return f"%PDF-1.7 operator-memory bench object {n}\n".encode()


def records_naming_objects(i: int) -> list[tuple[bytes, bytes]]:
    """bench.export's two records of job i, the FINALIZED one naming one of OBJECTS stored objects."""
    planned, final = state_records(i)
    doc = orjson.loads(final[1])
    if doc["state"] == "FINALIZED":
        body = content(i % OBJECTS)
        doc.update(sha256=hashlib.sha256(body).hexdigest(), size=len(body))
    return [planned, (final[0], orjson.dumps(doc))]


def fill_store(store: Path) -> None:
    for n in range(OBJECTS):
        body = content(n)
        path = object_path(store, hashlib.sha256(body).hexdigest())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


async def prepare(bootstrap: str, records: int) -> KafkaSettings:
    settings = await fresh_topics(bootstrap, f"bench-opmem-{uuid.uuid4().hex[:8]}", PARTITIONS)
    jobs = records // 2
    await write(bootstrap, settings.state_topic, jobs, records_naming_objects)
    await write(bootstrap, settings.jobs_topic, jobs, lambda i: [job_message(i)])
    return settings


def argv_for(command: str, settings: KafkaSettings, store: Path) -> list[str]:
    kafka = ["--bootstrap", settings.bootstrap_servers, "--group", settings.group_id,
             "--jobs-topic", settings.jobs_topic, "--state-topic", settings.state_topic]  # fmt: skip
    if command == "audit":
        return ["audit", "--store", str(store), "--dlq-topic", settings.dlq_topic, *kafka]
    if command == "requeue":
        return ["requeue", "--force-final", "--dry-run", "--json", *kafka]
    return ["status", "--json", *kafka]


def run_child(tree: Path, argv: list[str]) -> tuple[float, float, int, str]:
    """(seconds, peak RSS MiB, exit code, stdout) of `python -m producer ARGV` run from `tree`."""
    python = tree / ".venv" / "bin" / "python"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        exe = str(python if python.exists() else sys.executable)
        child = subprocess.Popen([exe, "-m", "producer", *argv], cwd=tree, env=env, stdout=out,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return seconds, usage.ru_maxrss / 1024, child.returncode, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default="200000,1000000", help="state-record counts, comma-separated")
    parser.add_argument("--tree", action="append", metavar="NAME=PATH", help="a checkout to run (this one)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    trees = [
        (name, Path(path).resolve())
        for name, path in (t.split("=", 1) for t in args.tree or [f"this={REPO}"])
    ]
    bootstrap = bootstrap_servers()
    print(
        "| records | jobs | command | "
        + " | ".join(f"{n}: peak RSS MiB, s [repeats]" for n, _ in trees)
        + " |"
    )
    print("|---|---|---|" + "---|" * len(trees))
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp, "store")
        fill_store(store)
        for records in (int(r) for r in args.records.split(",")):
            settings = asyncio.run(prepare(bootstrap, records))
            for command in COMMANDS:
                runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in trees}
                outputs: dict[str, str] = {}
                for _ in range(args.repeats):
                    for name, tree in trees:  # interleaved: the shared machine's load hits every tree alike
                        seconds, rss, code, out = run_child(tree, argv_for(command, settings, store))
                        if code != 0:
                            raise SystemExit(f"{name} {command} exited {code}: {out[-2000:]}")
                        runs[name].append((seconds, rss))
                        outputs[name] = out
                cells = []
                for name, _ in trees:
                    rss = statistics.median(r for _, r in runs[name])
                    secs = [s for s, _ in runs[name]]
                    cells.append(
                        f"{rss:.0f}, {statistics.median(secs):.1f} [{' '.join(f'{s:.1f}' for s in secs)}]"
                    )
                print(
                    f"| {records:,} | {records // 2:,} | {command} | " + " | ".join(cells) + " |", flush=True
                )
                if command != "status" and len({_same(command, o) for o in outputs.values()}) > 1:
                    print(f"  {command} outputs differ between trees", flush=True)


def _same(command: str, output: str) -> object:
    """What must agree between trees: audit's text; requeue's counts and job ids (key order may differ)."""
    if command != "requeue":
        return output
    doc = orjson.loads(output)
    return (doc["requeued"], doc["already_requeued"], tuple(j["job_id"] for j in doc["jobs"]))


if __name__ == "__main__":
    main()
