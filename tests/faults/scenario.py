"""What every fault scenario does around its fault: seed, run consumers, settle, audit, report a row.

A row (`Outcome`) is what docs/RELIABILITY.md tabulates: jobs seeded / finalized / failed, duplicates
visible, re-downloads (origin GETs beyond one per job), time to recover (end of the fault until every
seeded job is terminal), and the audit's verdict. Rows of a session are printed at its end.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from aiokafka import AIOKafkaProducer

from originfarm import Farm
from producer.commands import audit
from producer.statereader import read_state
from schemas import Candidate, JobMessage, KafkaSettings, Tier, encode, job_id_for_work
from tests.faults.harness import ConsumerOptions, ProcessPool
from tests.faults.harness.origin import Origin
from tests.faults.harness.waiting import poll_until

RESULTS: list[Outcome] = []  # rows of this session, printed by conftest's terminal summary
STATE_POLL_S = 1.0  # a full read_committed read of the state topic per poll; cheap at these sizes
SEEDED_AT_MS = 1_000


class Counted(Protocol):
    """An origin that counts the GETs of job documents."""

    @property
    def total_requests(self) -> int: ...

    @property
    def redownloads(self) -> int:
        """GETs of a document beyond its first (never negative: a job that failed before any GET adds 0)."""
        ...


class FarmDocs:
    """Counts the origin farm's GETs of job documents on `hosts` (robots.txt and Wayback lookups apart)."""

    def __init__(self, farm: Farm, *hosts: str) -> None:
        self.farm, self.hosts = farm, hosts

    @property
    def total_requests(self) -> int:
        stats = self.farm.stats
        return sum(
            n for h in self.hosts for path, n in stats.host(h).requests.items() if path != "/robots.txt"
        )

    @property
    def redownloads(self) -> int:
        stats = self.farm.stats
        return sum(
            n - 1 for h in self.hosts for path, n in stats.host(h).requests.items() if path != "/robots.txt"
        )


def farm_env(farm: Farm, **overrides: object) -> dict[str, str]:
    """DOCFETCH_* engine settings for consumer processes fetching from the origin farm: loopback allowed,
    resolver and Wayback on the farm, no politeness interval; `overrides` by EngineSettings field name."""
    values: dict[str, object] = {
        "allow_private_hosts": "true",
        "doi_resolver": farm.url("doi", "/"),
        "wayback_availability_url": farm.url("archive", "/wayback/available"),
        "host_min_interval_s": 0,
        **overrides,
    }
    return {f"DOCFETCH_{k.upper()}": str(v) for k, v in values.items()}


@dataclass
class Outcome:
    scenario: str
    guarantee: str
    seeded: int
    finalized: int
    failed: int
    pending: int
    duplicates: int
    redownloads: int
    recover_s: float | None
    open_at_fault: int | None = None  # seeded jobs not yet terminal when the fault began
    violations: dict[str, int] = field(default_factory=dict)
    stale_temp_files: int = 0

    def row(self) -> dict[str, object]:
        return asdict(self)


def jobs_for(origin: Origin, count: int, *, prefix: str = "F", first: int = 0) -> list[JobMessage]:
    """`count` jobs, job n fetching origin document n (n from `first`)."""
    return [
        JobMessage(
            job_id=job_id_for_work(f"{prefix}{n}"),
            work_id=f"{prefix}{n}",
            candidates=(Candidate(url=origin.url(n), tier=Tier.OA_PDF),),
            source="faults",
            seeded_at_ms=SEEDED_AT_MS,
        )
        for n in range(first, first + count)
    ]


async def publish(settings: KafkaSettings, values: list[JobMessage | bytes]) -> None:
    """Put jobs (keyed by job id) and raw poison bytes (key b"poison") on the jobs topic, acks=all."""
    producer = AIOKafkaProducer(**settings.client_options(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sends = []
        for value in values:
            raw, key = (
                (value, b"poison") if isinstance(value, bytes) else (encode(value), value.job_id.encode())
            )
            sends.append(await producer.send(settings.jobs_topic, raw, key=key))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def options(settings: KafkaSettings, store: Path, *, guarantee: str = "exactly-once") -> ConsumerOptions:
    """Consumer options for scenarios: short session timeout so a dead member is noticed in seconds."""
    fast = ("--session-timeout-ms", "6000", "--heartbeat-interval-ms", "1000", "--drain-timeout-s", "5")
    return ConsumerOptions(
        settings, store, concurrency=8, guarantee=guarantee, extra_args=fast, env=LOOPBACK_ENGINE
    )


# The download engine (the consumer's default fetcher) refuses loopback unless allowed; scenarios fetch from
# a loopback origin and measure faults, not politeness.
LOOPBACK_ENGINE = {
    "DOCFETCH_ALLOW_PRIVATE_HOSTS": "true",
    "DOCFETCH_HOST_MIN_INTERVAL_S": "0",
    "DOCFETCH_HOST_CONCURRENCY": "64",
}


async def terminal_count(settings: KafkaSettings, job_ids: set[str]) -> int:
    snapshot = await read_state(settings)
    return sum(1 for j in job_ids if (r := snapshot.latest.get(j)) is not None and r.state.terminal)


async def open_jobs(settings: KafkaSettings, jobs: list[JobMessage]) -> int:
    """How many of `jobs` are not terminal yet; a fault injected with none open tests nothing."""
    return len(jobs) - await terminal_count(settings, {j.job_id for j in jobs})


async def wait_all_terminal(settings: KafkaSettings, jobs: list[JobMessage], *, timeout_s: float) -> float:
    """Seconds until every job in `jobs` has a terminal latest record."""
    ids, started = {j.job_id for j in jobs}, time.monotonic()

    async def done() -> bool:
        return await terminal_count(settings, ids) == len(ids)

    await poll_until(done, timeout_s=timeout_s, interval_s=STATE_POLL_S, what=f"{len(ids)} jobs terminal")
    return time.monotonic() - started


async def settle(
    pool: ProcessPool, opts: ConsumerOptions, *, idle_s: float = 3, timeout_s: float = 120
) -> None:
    """Run one consumer with --exit-when-idle until it has committed everything and exits 0."""
    finisher = pool.consumer(f"settle-{len(pool.processes)}", _with_idle(opts, idle_s))
    assert await finisher.wait(timeout_s) == 0, finisher.tail()


def _with_idle(opts: ConsumerOptions, idle_s: float) -> ConsumerOptions:
    return ConsumerOptions(**{**opts.__dict__, "exit_when_idle_s": idle_s})


async def conclude(
    name: str,
    settings: KafkaSettings,
    store: Path,
    *,
    origin: Counted,
    jobs: list[JobMessage],
    guarantee: str,
    recover_s: float | None,
    open_at_fault: int | None = None,
) -> tuple[Outcome, audit.AuditReport]:
    """Audit (settled, no grace) and record the scenario's row."""
    report = await audit.audit(settings, store, grace_s=0, settled=True)
    temps = sum(v.check == "orphan" and not v.subject.startswith("sha256/") for v in report.violations)
    violations = report.by_check()
    violations["orphan"] -= temps  # stale temp files of killed processes are listed apart
    outcome = Outcome(
        scenario=name,
        guarantee=guarantee,
        seeded=len(jobs),
        finalized=report.counts["finalized"],
        failed=report.counts["failed"],
        pending=report.counts["pending"],
        duplicates=report.counts["duplicates"],
        redownloads=origin.redownloads,
        recover_s=None if recover_s is None else round(recover_s, 1),
        open_at_fault=open_at_fault,
        violations=violations,
        stale_temp_files=temps,
    )
    RESULTS.append(outcome)
    return outcome, report
