"""Hostile inputs (issue 11): each tried in a child process of its own; status, time and peak memory.

    .venv/bin/python -m bench.hostile            # every case, as the markdown table of docs/RELIABILITY.md
    .venv/bin/python -m bench.hostile CASE       # one case, as JSON

Loopback only: origins are the origin farm (127.0.0.x) or a local server on 127.0.0.1; names resolve
through an injected resolver; the one public address (93.184.216.34, the rebinding bait) is refused by the
test network backend before any system call.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson

from consumer.fetch import Engine, EngineSettings
from consumer.storage import Store
from originfarm import HOSTS, Farm
from schemas import JobMessage, PoisonMessage, Tier, decode_job
from tests.integration.farm_fixtures import engine_settings, make_job

REPO = Path(__file__).resolve().parents[1]
JOB = {
    "schema": 1,
    "job_id": "a" * 64,
    "candidates": [{"url": "https://example.org/a.pdf", "tier": "oa_pdf"}],
    "source": "openalex",
    "seeded_at_ms": 1,
}


def _decode(**fields: object) -> str:
    return _decode_raw(orjson.dumps({**JOB, **fields}))


def _decode_raw(raw: bytes) -> str:
    try:
        decode_job(raw)
    except PoisonMessage as exc:
        return f"poison `{exc.reason}` ({exc.detail[:60]})"
    return "accepted"


async def _farm_job(url_of: Callable[[Farm], str], **settings: object) -> str:
    async def resolve(host: str) -> list[str]:
        return [HOSTS["hostile"]]

    async with Farm(port=0) as farm:
        cfg = engine_settings(farm, wayback_max_lookups=0, **settings)
        with tempfile.TemporaryDirectory() as root:
            store = Store(Path(root), max_bytes=cfg.max_bytes)
            async with Engine(settings=cfg, store=store, resolver=resolve) as engine:
                outcome = await engine.fetch(make_job((Tier.OA_PDF, url_of(farm))))
        hostile = farm.stats.host("hostile").requests
    return f"`{outcome.status}`, {len(outcome.hops)} hops, {hostile['/robots.txt']} robots.txt fetches"


async def _rebinding() -> str:
    from tests.integration.test_engine_rebinding import LoopbackOnly, rebinding, secret_origin, settings_for

    _, resolve = rebinding("93.184.216.34", "127.0.0.1")
    network = LoopbackOnly()
    async with secret_origin() as (port, seen):
        cfg: EngineSettings = settings_for(port, allow_private_hosts=False)
        job: JobMessage = make_job((Tier.OA_PDF, f"http://localhost:{port}/internal-secret.pdf"))
        with tempfile.TemporaryDirectory() as root:
            store = Store(Path(root), max_bytes=cfg.max_bytes)
            async with Engine(settings=cfg, store=store, resolver=resolve, connect_hook=network) as engine:
                outcome = await engine.fetch(job)
    return f"`{outcome.status}`; loopback origin got {len(seen)} requests; connects: {network.targets}"


async def _many_hosts() -> str:
    asked: list[str] = []

    async def resolve(host: str) -> list[str]:
        asked.append(host)
        return [HOSTS["hostile"]]

    async with Farm(port=0) as farm:
        cfg = engine_settings(farm, retry_attempts=1, wayback_max_lookups=0)
        urls = [f"http://h{i}.fanout.test:{farm.port}/no-such/{i}" for i in range(32)]
        with tempfile.TemporaryDirectory() as root:
            async with Engine(
                settings=cfg, store=Store(Path(root), max_bytes=cfg.max_bytes), resolver=resolve
            ) as engine:
                outcome = await engine.fetch(make_job(*[(Tier.OA_PDF, u) for u in urls]))
        seen = farm.stats.host("hostile").requests
    ops = len(asked) + sum(seen.values())
    robots = seen["/robots.txt"]
    return f"`{outcome.status}`; {len(asked)} lookups + {robots} robots.txt + rest = {ops} ops (budget 60)"


def _seed_line() -> str:
    from producer.commands.jobmapping import outcome_batches

    with tempfile.TemporaryDirectory() as root:
        seed = Path(root) / "huge.txt"
        with seed.open("wb") as out:
            out.write(b"https://example.org/")
            for _ in range(200):
                out.write(b"a" * (1024 * 1024))
            out.write(b"\n")
        [(_, [reject])] = list(outcome_batches(str(seed), "urls"))
    return f"`{reject[2]}` at line {reject[1]}; rejects excerpt {len(reject[4])} bytes"


def _loc(pad: int) -> Callable[[Farm], str]:
    return lambda farm: farm.url("hostile", f"/huge-location/{pad}/3/a.pdf")


CASES: dict[str, tuple[str, Callable[[], str | Awaitable[str]]]] = {
    "rebinding": ("DNS rebinding: 93.184.216.34 then 127.0.0.1, guard on", _rebinding),
    "candidates": (
        "job with 10,000 candidates",
        lambda: _decode(candidates=[{"url": f"https://h{i}.org/", "tier": "oa_pdf"} for i in range(10_000)]),
    ),
    "many-hosts": ("job with 32 candidates on 32 fresh hosts (the max)", _many_hosts),
    "doi-10mb": ("10 MB `doi`", lambda: _decode(doi="1" * 10_000_000)),
    "schema-true": ('`"schema": true`', lambda: _decode(schema=True)),
    "schema-float": ('`"schema": 1.0`', lambda: _decode(schema=1.0)),
    "nul-url": (
        "NUL byte in a URL",
        lambda: _decode(candidates=[{"url": "https://e.org/a\x00", "tier": "oa_pdf"}]),
    ),
    "attempt-2^64": (
        "`attempt` 2^64",
        lambda: _decode_raw(
            orjson.dumps(JOB).replace(b'"seeded_at_ms":1', b'"seeded_at_ms":1,"attempt":%d' % 2**64)
        ),
    ),
    "seed-200mb": ("200 MB seed line", _seed_line),
    "location-9k": ("redirect with a 9 KB Location", lambda: _farm_job(_loc(9_000), retry_attempts=1)),
    "location-1m": ("redirect with a 1 MiB Location", lambda: _farm_job(_loc(1_048_576), retry_attempts=1)),
    "fanout": (
        "redirects to a new origin every hop",
        lambda: _farm_job(lambda f: f"http://f0.fanout.test:{f.port}/fanout/0/a.pdf"),
    ),
    "robots-drip": (
        "robots.txt of 4 MiB at 640 B/s",
        lambda: _farm_job(lambda f: f"http://robots-drip.test:{f.port}/robots-drip/a.pdf"),
    ),
}


def run_case(name: str) -> dict[str, object]:
    started = time.monotonic()
    result = CASES[name][1]()
    if not isinstance(result, str):
        result = asyncio.run(result)  # type: ignore[arg-type]
    elapsed_s = time.monotonic() - started
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    peak_mb = int(match.group(1)) / 1024 if match else 0.0
    return {"case": name, "result": result, "seconds": round(elapsed_s, 2), "peak_mb": round(peak_mb)}


def main() -> None:
    if len(sys.argv) > 1:
        print(json.dumps(run_case(sys.argv[1])))
        return
    print("| input | what it gets | time | peak RSS |\n|---|---|---|---|")
    for name, (label, _) in CASES.items():
        done = subprocess.run(
            [sys.executable, "-m", "bench.hostile", name],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=300,
        )
        row = (
            json.loads(done.stdout)
            if done.returncode == 0
            else {"result": done.stderr[-200:], "seconds": "-", "peak_mb": "-"}
        )
        print(f"| {label} | {row['result']} | {row['seconds']} s | {row['peak_mb']} MB |")


if __name__ == "__main__":
    main()
