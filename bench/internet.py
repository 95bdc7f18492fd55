"""An internet-shaped origin: docfetch (both HTTP transports) against Scrapy, side by side in one run.

The origin (bench.slow_origin, a child process) serves --hosts hosts on 127.0.x.y, each answer after
--latency-ms ± --jitter, every body a distinct valid PDF of --body-kib KiB, robots.txt 404. Inside each
repeat the contenders run one after the other on fresh URLs:

- `docfetch`: one `python -m consumer run --exit-when-idle` process, exactly-once, on fresh pre-seeded
  topics; the rate is jobs / (last FINALIZED - first PLANNED) from the state topic's timestamps.
- `docfetch-httpcore`: the same with DOCFETCH_HTTP_TRANSPORT=httpcore.
- `docfetch-asyncio`, `docfetch-uvloop` (only when named in --contenders): the same with
  DOCFETCH_EVENT_LOOP=asyncio or uvloop.
- `docfetch-baseline` (only with --baseline DIR): the same consumer run from another source tree (e.g.
  `git worktree add /tmp/base main`), for a before/after side by side in one run.
- `scrapy`: bench/peer_scrapy.py in a child, the same concurrency; first request to last file written.

CPU per job is the contender process's user+sys CPU divided by jobs: over the measured window (sampled
from /proc, interpolated at the window's ends) and over the whole process (rusage at exit; imports,
group join and the idle wait included). For docfetch that is the consumer process only (not the
seeding, not the broker). The latency bound is what the latency allows at that concurrency: C / latency,
and with politeness on also hosts x min(per-host concurrency / latency, 1 / per-host interval).

    .venv/bin/python -m bench.internet                      # 2000 jobs, C=256, 100 hosts, 200 ms, 3 repeats
    .venv/bin/python -m bench.internet --concurrency 16 --repeats 1
    .venv/bin/python -m bench.internet --quick              # 400 jobs, one repeat
    .venv/bin/python -m bench.internet --py-spy /tmp/prof   # also py-spy each docfetch consumer (raw)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, bootstrap_servers, fresh_topics, preload
from bench.cpuwatch import run_watched
from bench.peer_scrapy import scrapy_run
from bench.slow_origin import host_address
from bench.statetopic import finalized_rate, read_all
from consumer.fetch.settings import EngineSettings
from tests.faults.harness.process import ConsumerOptions

PARTITIONS = 12
IDLE_EXIT_S = 2.0
ATTACH_DELAY_S = 1.0
CONTENDERS = ("docfetch", "docfetch-httpcore", "scrapy")
# Not run by default: docfetch on each event loop (docs/BENCHMARKS.md "uvloop").
OPTIONAL_CONTENDERS = ("docfetch-asyncio", "docfetch-uvloop", "docfetch-baseline")
TRANSPORT_ENV = {
    "docfetch": {},
    "docfetch-httpcore": {"DOCFETCH_HTTP_TRANSPORT": "httpcore"},
    "docfetch-asyncio": {"DOCFETCH_EVENT_LOOP": "asyncio"},
    "docfetch-uvloop": {"DOCFETCH_EVENT_LOOP": "uvloop"},
    "docfetch-baseline": {},
}


@dataclass(frozen=True)
class Shape:
    """The origin and the load: what every contender of a run faces."""

    jobs: int
    concurrency: int
    hosts: int
    latency_ms: float
    jitter: float
    body_kib: int
    polite: bool

    def politeness(self) -> tuple[int, float]:
        """(per-host concurrency, per-host interval s) in force; politeness off = no per-host limit."""
        if not self.polite:
            return self.concurrency, 0.0
        fields = EngineSettings.model_fields
        return fields["host_concurrency"].default, fields["host_min_interval_s"].default

    def latency_bound(self) -> float:
        """Jobs/s the latency allows: C / latency, and per host with politeness on."""
        latency_s = self.latency_ms / 1000
        per_host, interval = self.politeness()
        host_rate = per_host / latency_s if interval == 0 else min(per_host / latency_s, 1 / interval)
        return min(self.concurrency / latency_s, self.hosts * host_rate)

    def url(self, port: int, index: int, tag: str) -> str:
        return f"http://{host_address(index % self.hosts)}:{port}/pdf/{tag}-{index}.pdf"


@dataclass(frozen=True)
class Run:
    rate: float
    cpu_window_s: float
    cpu_total_s: float
    sys_total_s: float | None = None  # the kernel-mode part, where known (docfetch's rusage)


@contextlib.contextmanager
def running_origin(shape: Shape) -> Iterator[int]:
    """bench.slow_origin in a child process; yields its port; terminates it after."""
    argv = [sys.executable, "-m", "bench.slow_origin", "--hosts", str(shape.hosts)]
    argv += ["--latency-ms", str(shape.latency_ms), "--jitter", str(shape.jitter)]
    argv += ["--body-kib", str(shape.body_kib)]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("port="):
            raise RuntimeError(f"origin exited ({proc.wait()}): {line!r}")
        yield int(line.split("=")[1])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def engine_env(shape: Shape, contender: str) -> dict[str, str]:
    env = {"DOCFETCH_ALLOW_PRIVATE_HOSTS": "true", **TRANSPORT_ENV[contender]}
    if not shape.polite:
        env |= {
            "DOCFETCH_HOST_MIN_INTERVAL_S": "0",
            "DOCFETCH_HOST_CONCURRENCY": str(max(1000, shape.concurrency)),
        }
    return env


def py_spy_attacher(
    out: Path | None, gil: bool
) -> tuple[Callable[[int], None], list[subprocess.Popen[bytes]]]:
    """on_start hook: `py-spy record --pid` (raw collapsed stacks) into `out`, when asked; it attaches
    after ATTACH_DELAY_S (an interpreter still starting has no version for py-spy to read). Without
    `gil` every thread not asleep is sampled (a worker thread in fsync counts); with it, only the thread
    holding the GIL (Python's own CPU)."""
    started: list[subprocess.Popen[bytes]] = []

    def attach(pid: int) -> None:
        if out is not None:
            py_spy = Path(sys.executable).parent / "py-spy"
            record = f"{py_spy} record --pid {pid} --format raw --rate 200 --nonblocking --output {out}" + (
                " --gil" if gil else ""
            )
            argv = ["sh", "-c", f"sleep {ATTACH_DELAY_S} && exec {record}"]
            started.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    return attach, started


async def docfetch_run(
    shape: Shape, port: int, contender: str, profile: Path | None, gil: bool = False, tree: Path = REPO
) -> Run:
    """One consumer process (its code from `tree`), exactly-once, over `shape.jobs` fresh pre-seeded jobs."""
    tag = f"{contender}-{uuid.uuid4().hex[:6]}"
    settings = await fresh_topics(bootstrap_servers(), f"bench-inet-{tag}", PARTITIONS)
    await preload(settings, shape.jobs, lambda i: shape.url(port, i, tag))
    attach, profilers = py_spy_attacher(profile, gil)
    with tempfile.TemporaryDirectory(prefix="bench-inet-") as root:
        options = ConsumerOptions(
            settings=settings,
            store=Path(root) / "store",
            concurrency=shape.concurrency,
            guarantee="exactly-once",
            exit_when_idle_s=IDLE_EXIT_S,
        )
        log = Path(root) / "consumer.log"
        env = engine_env(shape, contender) | ({"PYTHONPATH": str(tree)} if tree != REPO else {})
        watched = await run_watched(
            options.argv(), env=env, log_path=log, timeout_s=60 + shape.jobs / 5, on_start=attach, cwd=tree
        )
        if watched.returncode != 0:
            raise RuntimeError(f"{contender} exited {watched.returncode}:\n{log.read_text()[-3000:]}")
    for profiler in profilers:
        profiler.wait(timeout=30)
    seen = await read_all(settings, PARTITIONS)
    rate = finalized_rate(seen, shape.jobs)
    first = min(s.timestamp_ms for s in seen if s.state == "PLANNED") / 1000
    last = max(s.timestamp_ms for s in seen if s.state == "FINALIZED") / 1000
    return Run(rate, watched.samples.between(first, last), watched.cpu_total_s, watched.sys_total_s)


def scrapy_contender(shape: Shape, port: int) -> Run:
    tag = f"scrapy-{uuid.uuid4().hex[:6]}"
    done = scrapy_run([shape.url(port, i, tag) for i in range(shape.jobs)], shape.concurrency, shape.polite)
    return Run(done.rate, done.cpu_window_s, done.cpu_total_s)


def measure(
    shape: Shape,
    repeats: int,
    contenders: tuple[str, ...],
    py_spy: Path | None,
    gil: bool = False,
    baseline: Path | None = None,
) -> dict[str, list[Run]]:
    """Every contender once per repeat, alternating, against one origin process."""
    if py_spy is not None:
        py_spy.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[Run]] = {}
    with running_origin(shape) as port:
        for repeat in range(repeats):
            for name in contenders:
                if name == "scrapy":
                    run = scrapy_contender(shape, port)
                else:
                    profile = py_spy / f"{name}-r{repeat}.txt" if py_spy is not None else None
                    tree = baseline if name == "docfetch-baseline" and baseline is not None else REPO
                    run = asyncio.run(docfetch_run(shape, port, name, profile, gil, tree))
                runs.setdefault(name, []).append(run)
                print(
                    f"repeat {repeat} {name}: {run.rate:,.0f} jobs/s, "
                    f"CPU {1000 * run.cpu_window_s / shape.jobs:.2f} ms/job (window), "
                    f"{1000 * run.cpu_total_s / shape.jobs:.2f} ms/job (process"
                    + (f", {100 * run.sys_total_s / run.cpu_total_s:.0f} % sys)" if run.sys_total_s else ")"),
                    file=sys.stderr,
                    flush=True,
                )
    return runs


def table(shape: Shape, runs: dict[str, list[Run]]) -> str:
    """The Markdown table: jobs/s (median [repeats]), CPU ms per job, the latency bound."""
    bound = shape.latency_bound()
    per_host, interval = shape.politeness()
    lines = [
        f"{shape.jobs} jobs, concurrency {shape.concurrency}, {shape.hosts} hosts, "
        f"{shape.latency_ms:g} ms ± {100 * shape.jitter:g} %, {shape.body_kib} KiB PDFs, politeness "
        + (f"on ({per_host} per host, {interval:g} s apart)" if shape.polite else "off"),
        "",
        "| contender | jobs/s, median [repeats] | CPU ms/job, window [repeats] | CPU ms/job, whole process "
        "| latency bound | of bound |",
        "|---|---|---|---|---|---|",
    ]

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} [{' '.join(f'{v:.2f}' for v in values)}]"

    for name, done in runs.items():
        rates = [r.rate for r in done]
        med = statistics.median(rates)
        window = [1000 * r.cpu_window_s / shape.jobs for r in done]
        total = [1000 * r.cpu_total_s / shape.jobs for r in done]
        lines.append(
            f"| {name} | {med:,.0f} [{' '.join(f'{v:.0f}' for v in rates)}] | {ms(window)} | {ms(total)} "
            f"| {bound:,.0f} | {med / bound:.2f} |"
        )
    if "docfetch" in runs and "scrapy" in runs:
        ratio = statistics.median(r.rate for r in runs["docfetch"]) / statistics.median(
            r.rate for r in runs["scrapy"]
        )
        lines += ["", f"docfetch / Scrapy = {ratio:.2f} (target ≥ 1.5 at C=256; CPU target ≤ 2.5 ms/job)"]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="400 jobs, one repeat (unless given)")
    p.add_argument("--jobs", type=int, help="downloads per contender per repeat [2000; quick 400]")
    p.add_argument("--repeats", type=int, help="[3; quick 1]")
    p.add_argument("--concurrency", type=int, default=256, help="jobs (requests) in flight [256]")
    p.add_argument("--hosts", type=int, default=100, help="origin hosts on 127.0.x.y [100]")
    p.add_argument("--latency-ms", type=float, default=200.0, help="delay of every answer [200]")
    p.add_argument("--jitter", type=float, default=0.1, help="± fraction of the latency [0.1]")
    p.add_argument("--body-kib", type=int, default=32, help="PDF size [32]")
    polite = "off: no per-host limits; on: docfetch's defaults, Scrapy's equivalent [off]"
    p.add_argument("--politeness", choices=("off", "on"), default="off", help=polite)
    named = f"comma-separated [{','.join(CONTENDERS)}]; also {', '.join(OPTIONAL_CONTENDERS)}"
    p.add_argument("--contenders", default=",".join(CONTENDERS), help=named)
    p.add_argument("--py-spy", type=Path, metavar="DIR", help="py-spy record each docfetch consumer into DIR")
    p.add_argument("--py-spy-gil", action="store_true", help="py-spy samples only the GIL holder (--gil)")
    base = "contender docfetch-baseline runs the consumer from this source tree (this venv) [none]"
    p.add_argument("--baseline", type=Path, metavar="DIR", help=base)
    return p


def shape_of(args: argparse.Namespace) -> Shape:
    jobs = args.jobs if args.jobs is not None else (400 if args.quick else 2000)
    return Shape(
        jobs,
        args.concurrency,
        args.hosts,
        args.latency_ms,
        args.jitter,
        args.body_kib,
        args.politeness == "on",
    )


def main() -> None:
    args = parser().parse_args()
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    contenders = tuple(c for c in args.contenders.split(",") if c)
    unknown = set(contenders) - set(CONTENDERS + OPTIONAL_CONTENDERS)
    if unknown:
        raise SystemExit(f"unknown contenders: {sorted(unknown)}")
    if ("docfetch-baseline" in contenders) != (args.baseline is not None):
        raise SystemExit("docfetch-baseline and --baseline DIR go together")
    logging.basicConfig(level=logging.ERROR)  # aiokafka's retry warnings on fresh topics are noise here
    shape = shape_of(args)
    print(f"# bench.internet: {shape}, repeats {repeats}, pid {os.getpid()}", file=sys.stderr, flush=True)
    print(table(shape, measure(shape, repeats, contenders, args.py_spy, args.py_spy_gil, args.baseline)))


if __name__ == "__main__":
    main()
