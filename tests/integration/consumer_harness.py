"""Helpers for consumer tests: a loopback HTTP origin, seeding, consumer processes, invariant checks."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from producer.commands.audit import committed_offsets, evaluate, read_topics
from schemas import Candidate, JobMessage, KafkaSettings, State, Tier, encode, job_id
from schemas.kafka import partitions_of
from tests.faults.harness.process import ConsumerOptions
from tests.faults.harness.waiting import poll_until

REQUEST_TIMEOUT_S = 30.0  # bounds one origin request, including the deliberately slow ones
REQUEST_LIMIT_BYTES = 1 << 20  # a request head up to 1 MiB: hostile-origin tests send 64 KiB URLs back
# /big-redirect/: a Location just below the longest one the engine follows (schemas MAX_URL_CHARS, 8192)
BIG_LOCATION_CHARS = 8000


def pdf_body(name: str) -> bytes:
    """A small, distinct, PDF-looking body per path."""
    return b"%PDF-1.4\n" + hashlib.sha256(name.encode()).hexdigest().encode() * 8 + b"\n%%EOF\n"


@dataclass
class Origin:
    """A loopback HTTP server: /pdf/<name>, /slow/<seconds>/<name>, /status/<code>/<name>, and
    /big-redirect/<name>/...: a 302 to a longer path whose Location is about 8 KB (a hostile origin)."""

    port: int = 0
    hits: Counter[str] = field(default_factory=Counter)
    gone: set[str] = field(default_factory=set)  # paths answered 404 until removed (a document that returns)
    arrivals: list[tuple[float, str]] = field(default_factory=list)  # (time.monotonic(), path) per request

    def downloads(self) -> int:
        """Requests for content (the engine's robots.txt checks are not downloads)."""
        return sum(n for path, n in self.hits.items() if path != "/robots.txt")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                self.hits[path] += 1
                self.arrivals.append((time.monotonic(), path))
                code, body = await self.answer(path)
                location = (
                    f"Location: {self.big_location(path)}\r\n" if path.startswith("/big-redirect/") else ""
                )
                writer.write(
                    f"HTTP/1.1 {code} X\r\nContent-Type: application/pdf\r\nContent-Length: {len(body)}\r\n"
                    f"{location}Connection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def answer(self, path: str) -> tuple[int, bytes]:
        parts = path.strip("/").split("/")
        if path == "/robots.txt" or path in self.gone:
            return 404, b"none"  # robots.txt: 4xx, everything allowed
        if parts[0] == "slow":
            await asyncio.sleep(float(parts[1]))
        if parts[0] == "status":
            return int(parts[1]), b"no"
        if parts[0] == "big-redirect":
            return 302, b""
        return 200, pdf_body(path)

    @staticmethod
    def big_location(path: str) -> str:
        """Where /big-redirect/<name>/... sends next: the same chain again, by an 8 KB path."""
        _kind, name, hop = path.strip("/").split("/")[:3]
        return f"/big-redirect/{name}/{int(hop) + 1}/{'x' * BIG_LOCATION_CHARS}"


@asynccontextmanager
async def origin() -> AsyncIterator[Origin]:
    served = Origin()
    server = await asyncio.start_server(served.handle, "127.0.0.1", 0, limit=REQUEST_LIMIT_BYTES)
    served.port = server.sockets[0].getsockname()[1]
    try:
        yield served
    finally:
        server.close()
        await server.wait_closed()


def make_job(url: str, *, work: str, attempt: int = 0) -> JobMessage:
    return JobMessage(
        job_id=job_id(work_id=work, url=None),
        work_id=work,
        candidates=(Candidate(url=url, tier=Tier.OA_PDF),),
        source="test",
        seeded_at_ms=1_000,
        attempt=attempt,
    )


async def seed(settings: KafkaSettings, items: Iterable[JobMessage | bytes]) -> int:
    """Send jobs keyed by job id (raw bytes keyed b"raw"), acks=all, pipelined; returns the count."""
    producer = AIOKafkaProducer(**settings.client_options(), acks="all", linger_ms=5)
    await producer.start()
    try:
        acks = []
        for item in items:
            value, key = (item, b"raw") if isinstance(item, bytes) else (encode(item), item.job_id.encode())
            acks.append(await producer.send(settings.jobs_topic, value, key=key))
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return len(acks)


# Where a consumer's DOI resolver and web archive point unless a test gives it an origin for them
# (`loopback_only`): a loopback port nothing listens on, so a failing job's archive lookup is refused at
# once instead of resolving archive.org (the engine's default), and no test makes a DNS lookup.
NOWHERE = "http://127.0.0.1:1"

# The download engine must be allowed to reach the loopback origin, and one host must take the whole
# test's load. The caller's environment wins.
ENGINE_ENV = {
    "DOCFETCH_ALLOW_PRIVATE_HOSTS": "true",
    "DOCFETCH_HOST_MIN_INTERVAL_S": "0",
    "DOCFETCH_HOST_CONCURRENCY": "64",
    "DOCFETCH_DOI_RESOLVER": f"{NOWHERE}/doi/",
    "DOCFETCH_WAYBACK_AVAILABILITY_URL": f"{NOWHERE}/wayback/available",
}


def loopback_only(opts: ConsumerOptions, farm: Origin, **env: str) -> ConsumerOptions:
    """`opts` whose web-archive fallback asks `farm` too (a 404: nothing archived), plus `env`: a failing
    job then makes no request, not even a DNS lookup, beyond loopback."""
    wayback = {"DOCFETCH_WAYBACK_AVAILABILITY_URL": farm.url("/status/404/wayback")}
    return replace(opts, env={**opts.env, **wayback, **env})


def options(settings: KafkaSettings, store: Path, *extra: str, **kw: object) -> ConsumerOptions:
    """Consumer options with test-friendly group timings (fast joins and fast rebalances)."""
    timings = ("--session-timeout-ms", "6000", "--heartbeat-interval-ms", "500", "--drain-timeout-s", "5")
    env = {k: os.environ.get(k, v) for k, v in ENGINE_ENV.items()}
    return ConsumerOptions(settings=settings, store=store, extra_args=(*timings, *extra), env=env, **kw)  # type: ignore[arg-type]


async def end_offsets(settings: KafkaSettings) -> dict[int, int]:
    tps = await partitions_of(settings, settings.jobs_topic)
    reader = AIOKafkaConsumer(**settings.client_options(), enable_auto_commit=False)
    await reader.start()
    try:
        ends = await reader.end_offsets(tps)
    finally:
        await reader.stop()
    return {tp.partition: end for tp, end in ends.items()}


async def wait_committed_at_end(settings: KafkaSettings, *, timeout_s: float) -> dict[int, int]:
    """Poll until the group's committed offsets equal the end offsets (transactional commits lag a little)."""
    ends = await end_offsets(settings)

    async def at_end() -> dict[int, int] | None:
        committed = await committed_offsets(settings)
        # An empty partition has nothing to commit: no committed offset is its end (0).
        return committed if all(committed.get(p, 0) == end for p, end in ends.items()) else None

    found: dict[int, int] = await poll_until(
        at_end, timeout_s=timeout_s, interval_s=0.5, what=f"committed {ends}"
    )
    return found


@dataclass
class Invariants:
    finalized_per_job: Counter[str]
    failed: int
    violations: list[str]


async def check_invariants(settings: KafkaSettings, store: Path, *, timeout_s: float = 30) -> Invariants:
    """Committed == end offsets, then the audit (no lost job, no duplicate FINALIZED, artifacts intact)."""
    await wait_committed_at_end(settings, timeout_s=timeout_s)
    topics = await read_topics(settings)
    report, state = evaluate(topics, store, grace_s=3600, settled=True), topics.state
    finalized = Counter(
        r.job_id for history in state.history.values() for r in history if r.state is State.FINALIZED
    )
    failed = sum(r.state is State.FAILED for r in state.latest.values())
    violations = [f"{v.check}: {v.subject}: {v.detail}" for v in report.violations]
    return Invariants(finalized, failed, violations)
