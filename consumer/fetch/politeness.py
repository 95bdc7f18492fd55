"""Per-host politeness: a concurrency cap, a minimum interval between request starts, Retry-After, and a
circuit breaker that stops hammering a host after repeated failures."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from consumer.fetch.errors import FetchFailed
from schemas import Status

# When the running job must be done (time.monotonic()); the engine sets it per job. A request to a host
# whose circuit is open waits out the cooldown when the job can afford it, and fails fast otherwise.
JOB_DEADLINE_AT: contextvars.ContextVar[float] = contextvars.ContextVar("job_deadline_at", default=math.inf)

# Added to every minimum interval: timers may fire a little early and clocks are coarse.
INTERVAL_MARGIN_S = 0.002


@dataclass(frozen=True, slots=True)
class HostPolicy:
    concurrency: int
    min_interval_s: float


def load_overrides(path: Path | None) -> dict[str, HostPolicy]:
    """Read `{"host": {"concurrency": 1, "min_interval_s": 3.0}}`; missing keys keep the defaults."""
    if path is None:
        return {}
    raw = json.loads(path.read_text())
    return {
        host.lower(): HostPolicy(
            concurrency=int(spec.get("concurrency", 1)),
            min_interval_s=float(spec.get("min_interval_s", 0.0)),
        )
        for host, spec in raw.items()
    }


class HostGate:
    """One host's gate. `async with gate.slot():` waits for a free slot and for the interval to pass.

    With a minimum interval, the next request starts only after the previous one was answered (headers or
    an error) plus the interval: the request reached the origin before its answer, so the gaps the origin
    sees between arrivals can never undercut the interval, whatever the connect latency.
    """

    def __init__(self, policy: HostPolicy, *, breaker_failures: int, breaker_cooldown_s: float) -> None:
        self._slots = asyncio.Semaphore(policy.concurrency)
        self._start_lock = asyncio.Lock()
        self._answer = asyncio.Event()
        self.min_interval_s = policy.min_interval_s
        self._next_start_s = 0.0  # math.inf while a request waits for its answer
        self._deferred_until_s = 0.0
        self._failures = 0
        self._open_until_s = 0.0
        self._breaker_failures, self._breaker_cooldown_s = breaker_failures, breaker_cooldown_s

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._wait_circuit()
        async with self._slots:
            async with self._start_lock:
                await self._wait_due()
                if self.min_interval_s > 0:
                    self._next_start_s = math.inf
            try:
                yield
            finally:
                self.answered()

    async def _wait_circuit(self) -> None:
        """An open circuit closes at `_open_until_s`: wait for it if the job's deadline is later."""
        now = time.monotonic()
        if now >= self._open_until_s:
            return
        if self._open_until_s >= JOB_DEADLINE_AT.get():
            raise FetchFailed(Status.REMOTE_SERVER_ERROR, "circuit open: host failing repeatedly")
        await asyncio.sleep(self._open_until_s - now)

    async def _wait_due(self) -> None:
        while True:
            if self._next_start_s == math.inf:
                self._answer.clear()
                await self._answer.wait()
                continue
            wait_s = max(self._next_start_s, self._deferred_until_s) - time.monotonic()
            if wait_s <= 0:
                return
            await asyncio.sleep(wait_s)

    def answered(self) -> None:
        """The request in flight got its answer: the next may start one interval from now."""
        if self._next_start_s == math.inf:
            self._next_start_s = time.monotonic() + self.min_interval_s + INTERVAL_MARGIN_S
            self._answer.set()

    def slow_down(self, *, at_least_s: float) -> None:
        """Raise the interval (Crawl-delay); never lowers it."""
        self.min_interval_s = max(self.min_interval_s, at_least_s)

    def defer(self, delay_s: float) -> None:
        """No request starts before `delay_s` from now (Retry-After)."""
        self._deferred_until_s = max(self._deferred_until_s, time.monotonic() + delay_s)

    def succeeded(self) -> None:
        self._failures = 0

    def failed(self) -> None:
        self._failures += 1
        if self._failures >= self._breaker_failures:
            self._open_until_s = time.monotonic() + self._breaker_cooldown_s
            self._failures = 0


class Politeness:
    """The gates of every host seen, created on first use from the defaults or an override."""

    def __init__(
        self,
        *,
        default: HostPolicy,
        overrides: dict[str, HostPolicy],
        breaker_failures: int,
        breaker_cooldown_s: float,
    ) -> None:
        self._default, self._overrides = default, overrides
        self._breaker = (breaker_failures, breaker_cooldown_s)
        self._gates: dict[str, HostGate] = {}

    def gate(self, host: str) -> HostGate:
        host = host.lower()
        if host not in self._gates:
            policy = self._policy_for(host)
            failures, cooldown_s = self._breaker
            self._gates[host] = HostGate(policy, breaker_failures=failures, breaker_cooldown_s=cooldown_s)
        return self._gates[host]

    def _policy_for(self, host: str) -> HostPolicy:
        """The override of the host or of its nearest listed parent domain (arxiv.org covers
        export.arxiv.org); an IPv4 literal matches only itself."""
        labels = [] if host.replace(".", "").isdigit() else host.split(".")
        for i in range(len(labels) - 1):
            policy = self._overrides.get(".".join(labels[i:]))
            if policy is not None:
                return policy
        return self._overrides.get(host, self._default)
