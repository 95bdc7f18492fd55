"""Memory per in-flight job: one consumer at --concurrency C against an origin that answers slowly.

The origin (bench.slow_origin, a child process) answers every request after --latency-ms, so once C jobs
are seeded, C downloads wait on their answers at once. The consumer starts on empty topics; its RSS is
read once it holds its partitions (the baseline), then C jobs are seeded and, when the origin has C
established connections (downloads really in flight, not queued for a pooled connection), its RSS is read
again. Memory per in-flight job = (RSS in flight - baseline) / C. Each concurrency runs --repeats times
(fresh topics, fresh consumer); the table gives medians.

    .venv/bin/python -m bench.inflight_memory                      # C = 250 and 1000, 2 repeats
    .venv/bin/python -m bench.inflight_memory --concurrency 1000 --repeats 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, bootstrap_servers, fresh_topics, preload
from bench.internet import Shape, running_origin
from bench.slow_origin import host_address
from tests.faults.harness.process import ConsumerOptions

PARTITIONS = 12
HOSTS = 100
BODY_KIB = 32
WAIT_S = 60.0


@dataclass(frozen=True)
class Sample:
    concurrency: int
    reached: int  # origin connections established at the peak
    baseline_mib: float
    inflight_mib: float

    @property
    def per_job_kib(self) -> float:
        return (self.inflight_mib - self.baseline_mib) * 1024 / max(self.reached, 1)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def established(port: int) -> int:
    """Established TCP connections whose local port is the origin's (its side of each download)."""
    argv = ["ss", "-Htn", "state", "established", f"( sport = :{port} )"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def poll(check: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def ready(metrics_port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", metrics_port), timeout=1) as conn:
            conn.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return conn.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def start_consumer(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


async def one_run(concurrency: int, port: int) -> Sample:
    tag = uuid.uuid4().hex[:6]
    settings = await fresh_topics(bootstrap_servers(), f"bench-mem-{tag}", PARTITIONS)
    metrics_port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as root:
        options = ConsumerOptions(
            settings=settings, store=Path(root) / "store", concurrency=concurrency, metrics_port=metrics_port
        )
        env = {
            **os.environ,
            "DOCFETCH_ALLOW_PRIVATE_HOSTS": "true",
            "DOCFETCH_HOST_MIN_INTERVAL_S": "0",
            "DOCFETCH_HOST_CONCURRENCY": str(concurrency),
            "DOCFETCH_READ_TIMEOUT_S": "120",
            "DOCFETCH_JOB_DEADLINE_S": "300",
        }
        proc = start_consumer(options.argv(), env, Path(root) / "consumer.log")
        try:
            await poll(lambda: ready(metrics_port) or proc.poll() is not None, "the consumer's /readyz")
            if proc.poll() is not None:
                raise RuntimeError((Path(root) / "consumer.log").read_text()[-3000:])
            await asyncio.sleep(2.0)  # the poll loop and the first commit rounds settle
            baseline = rss_mib(proc.pid)
            url = lambda i: f"http://{host_address(i % HOSTS)}:{port}/pdf/mem-{tag}-{i}.pdf"  # noqa: E731
            await preload(settings, concurrency, url)
            await poll(
                lambda: established(port) >= concurrency,
                f"{concurrency} origin connections",
                timeout_s=WAIT_S * 2,
            )
            await asyncio.sleep(1.0)
            return Sample(concurrency, established(port), baseline, rss_mib(proc.pid))
        except RuntimeError:
            print((Path(root) / "consumer.log").read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def table(samples: dict[int, list[Sample]]) -> str:
    lines = [
        "| --concurrency | downloads in flight | RSS idle (MiB) | RSS in flight (MiB) "
        "| per in-flight job (KiB) |",
        "|---|---|---|---|---|",
    ]
    for c, runs in samples.items():
        per = " ".join(f"{s.per_job_kib:.0f}" for s in runs)
        lines.append(
            f"| {c} | {statistics.median(s.reached for s in runs):.0f} "
            f"| {statistics.median(s.baseline_mib for s in runs):.0f} "
            f"| {statistics.median(s.inflight_mib for s in runs):.0f} "
            f"| {statistics.median(s.per_job_kib for s in runs):.0f} ({per}) |"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    samples: dict[int, list[Sample]] = {c: [] for c in args.concurrency}
    shape = Shape(jobs=0, concurrency=0, hosts=HOSTS, latency_ms=args.latency_ms, jitter=0.1,
                  body_kib=BODY_KIB, polite=False)  # fmt: skip
    with running_origin(shape) as port:
        for _ in range(args.repeats):
            for c in args.concurrency:
                sample = await one_run(c, port)
                print(f"C={c}: {sample}", flush=True)
                samples[c].append(sample)
    print(table(samples))


def main() -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fmt)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[250, 1000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=25_000, help="origin answer delay (25 s)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
