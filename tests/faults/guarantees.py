"""The one set-up of the issue-10 scenarios (guarantees outside the happy path): seed jobs against a loopback
origin, run consumer processes with /healthz and /metrics, watch health while a fault lasts, then settle
and check what every scenario asserts: every job terminal, at most one visible FINALIZED per job attempt,
committed offsets never past an unfinished job (the audit, settled, no grace).
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from producer.commands.audit import AuditReport
from schemas import JobMessage, KafkaSettings
from tests.faults.harness import ConsumerOptions, ProcessPool
from tests.faults.harness.origin import Origin
from tests.faults.harness.process import ManagedProcess
from tests.faults.harness.waiting import poll_until
from tests.faults.scenario import Outcome, conclude, jobs_for, options, publish, settle, wait_all_terminal

HTTP_TIMEOUT_S = 2.0  # one scrape of a loopback consumer; a stopped or gone process answers nothing
HEALTH_POLL_S = 0.25


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Scenario:
    """One scenario's topics, origin, processes and jobs; `finish()` settles, audits and asserts."""

    name: str
    settings: KafkaSettings
    store: Path
    origin: Origin
    pool: ProcessPool
    opts: ConsumerOptions
    jobs: list[JobMessage] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    health_seen: dict[str, set[int]] = field(default_factory=dict)

    async def seed(self, count: int, *, prefix: str) -> list[JobMessage]:
        """`count` jobs of the origin's documents (see scenario.jobs_for), published."""
        return await self.publish(jobs_for(self.origin, count, prefix=prefix))

    async def publish(self, jobs: list[JobMessage]) -> list[JobMessage]:
        self.jobs += jobs
        await publish(self.settings, list(jobs))
        return jobs

    def consumer(self, name: str, **changes: object) -> ManagedProcess:
        """A consumer process serving /healthz and /metrics on a port of its own."""
        self.ports[name] = free_port()
        opts = replace(self.opts, metrics_port=self.ports[name], **changes)  # type: ignore[arg-type]
        return self.pool.consumer(name, opts)

    async def get(self, name: str, path: str) -> httpx.Response | None:
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
                return await client.get(f"http://127.0.0.1:{self.ports[name]}{path}")
        except httpx.HTTPError:
            return None

    async def metric(self, name: str, series: str) -> float:
        """The value of `series` (e.g. docfetch_partitions_lost_total) on consumer `name` (0 if absent)."""
        response = await self.get(name, "/metrics")
        assert response is not None, f"{name} does not answer /metrics"
        found = re.search(rf"^{re.escape(series)} ([0-9.e+]+)$", response.text, re.M)
        return float(found.group(1)) if found else 0.0

    @asynccontextmanager
    async def watching_health(self, name: str) -> AsyncIterator[set[int]]:
        """Poll `name`'s /healthz for the block; yields the set of status codes seen."""
        seen = self.health_seen.setdefault(name, set())

        async def watch() -> None:
            while True:
                if (response := await self.get(name, "/healthz")) is not None:
                    seen.add(response.status_code)
                await asyncio.sleep(HEALTH_POLL_S)

        async with asyncio.TaskGroup() as tg:
            watcher = tg.create_task(watch())
            try:
                yield seen
            finally:
                watcher.cancel()

    async def wait_requests(self, count: int, *, timeout_s: float = 60) -> None:
        """Until the origin has had `count` document GETs (downloads are in flight)."""
        await poll_until(lambda: self.origin.total_requests >= count, timeout_s=timeout_s,
                         interval_s=0.05, what=f"{count} origin requests")  # fmt: skip

    async def all_terminal(self, *, timeout_s: float) -> float:
        return await wait_all_terminal(self.settings, self.jobs, timeout_s=timeout_s)

    async def finish(
        self, *, recover_s: float | None, open_at_fault: int | None = None, stop_timeout_s: float = 60
    ) -> tuple[Outcome, AuditReport]:
        """Stop every consumer (SIGTERM), settle with an --exit-when-idle one, audit and assert."""
        for proc in self.pool.alive():
            proc.terminate()
        for proc in self.pool.processes:
            await proc.wait(stop_timeout_s)
        await settle(self.pool, self.opts, timeout_s=180)
        outcome, report = await conclude(
            self.name, self.settings, self.store, origin=self.origin, jobs=self.jobs,
            guarantee=self.opts.guarantee, recover_s=recover_s, open_at_fault=open_at_fault,
        )  # fmt: skip
        assert outcome.violations == dict.fromkeys(outcome.violations, 0), report.violations[:10]
        assert outcome.pending == 0 and outcome.finalized + outcome.failed >= len(self.jobs), outcome
        assert outcome.duplicates == 0, outcome  # at most one visible FINALIZED per job attempt
        return outcome, report


@asynccontextmanager
async def scenario(
    name: str,
    settings: KafkaSettings,
    tmp_path: Path,
    *,
    body_delay_s: float = 0.0,
    guarantee: str = "exactly-once",
    extra_args: tuple[str, ...] | None = None,
    env: dict[str, str] | None = None,
    consumer_bootstrap: str | None = None,
) -> AsyncIterator[Scenario]:
    """`async with scenario(...) as s`: origin and process pool for the block (both torn down after).

    Consumers get scenario.options' fast group timings unless `extra_args` replaces them, and reach the
    brokers through `consumer_bootstrap` when given (the fault cluster's proxies)."""
    store = tmp_path / "store"
    reach = settings.model_copy(
        update={"bootstrap_servers": consumer_bootstrap or settings.bootstrap_servers}
    )
    base = options(reach, store, guarantee=guarantee)
    opts = replace(
        base,
        extra_args=base.extra_args if extra_args is None else extra_args,
        env={**base.env, **(env or {})},
    )
    async with Origin(body_delay_s=body_delay_s) as origin, ProcessPool(tmp_path / "logs") as pool:
        yield Scenario(name, settings, store, origin, pool, opts)
