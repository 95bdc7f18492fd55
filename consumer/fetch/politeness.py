"""Per-host politeness: a concurrency cap, a minimum interval between request starts, Retry-After, and a
circuit breaker that stops hammering a host after repeated failures.

The limits are the consumer group's, not one process's: jobs are spread over the jobs topic's partitions
uniformly by job id, so a consumer owning k of P partitions takes k/P of each host's budget
(`Politeness.set_share`, called on every rebalance): its concurrency is max(1, floor(c * k/P)) and its
minimum interval (configured, overridden, or a robots.txt Crawl-delay) is interval * P/k. The group's
aggregate rate to a host then stays within the configured one, with no coordination server.

Gates are kept for at most MAX_IDLE_GATES hosts beyond those in use: a gate is dropped, least recently
used first, only when nothing holds it and it constrains nothing (no request in flight or waiting, its
interval passed, no Retry-After or open circuit pending), so a new gate for that host behaves as the old
one would have. Only the breaker's count of failures in a row is forgotten.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import json
import math
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from consumer.errors import FetchFailed
from schemas import Status

# When the running job must be done (time.monotonic()); the engine sets it per job. A request to a host
# whose circuit is open waits out the cooldown when the job can afford it, and fails fast otherwise.
JOB_DEADLINE_AT: contextvars.ContextVar[float] = contextvars.ContextVar("job_deadline_at", default=math.inf)

# Added to every minimum interval: timers may fire a little early and clocks are coarse.
INTERVAL_MARGIN_S = 0.002
MAX_IDLE_GATES = 16_384  # hosts remembered beyond those in use (a gate is ~1 KB)
EVICT_SCAN = 4  # least recently used gates looked at per new gate: O(1) per request


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


class Slots:
    """A semaphore whose limit can change while it is in use (the group share changes on rebalance)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> None:
        while self.used >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, then cancelled: pass the wake-up on
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
        self.used += 1

    def release(self) -> None:
        self.used -= 1
        self._wake()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def set_limit(self, limit: int) -> None:
        """A lower limit takes effect as slots are released; nothing in flight is interrupted."""
        self.limit = limit
        self._wake()

    def _wake(self) -> None:
        free = self.limit - self.used
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1


def group_share(owned: int, total: int) -> float:
    """k/P as a fraction; a consumer owning nothing keeps 1/P (it fetches nothing anyway)."""
    if total < 1 or not 0 <= owned <= total:
        raise ValueError(f"a share needs 0 <= owned <= total and total >= 1, got {owned}/{total}")
    return max(owned, 1) / total


class HostGate:
    """One host's gate. `async with gate.slot():` waits for a free slot and for the interval to pass.

    With a minimum interval, the next request starts only after the previous one was answered (headers or
    an error) plus the interval: the request reached the origin before its answer, so the gaps the origin
    sees between arrivals can never undercut the interval, whatever the connect latency.
    """

    def __init__(self, policy: HostPolicy, *, breaker_failures: int, breaker_cooldown_s: float) -> None:
        self._policy, self._share = policy, 1.0
        self._slots = Slots(policy.concurrency)
        self._start_lock = asyncio.Lock()
        self._answer = asyncio.Event()
        self._interval_s = policy.min_interval_s  # the group's interval; this process waits /share
        self._next_start_s = 0.0  # math.inf while a request waits for its answer
        self._deferred_until_s = 0.0
        self._failures = 0
        self._open_until_s = 0.0
        self._breaker_failures, self._breaker_cooldown_s = breaker_failures, breaker_cooldown_s
        self.holders = 0  # requests between Politeness.held and their end (see there)

    def idle(self, now_s: float) -> bool:
        """Nothing holds the gate and it constrains nothing: a fresh gate would behave the same."""
        slots = self._slots
        return (
            self.holders == 0
            and slots.used == 0
            and not slots.waiting
            and self._next_start_s <= now_s
            and self._deferred_until_s <= now_s
            and self._open_until_s <= now_s
        )

    @property
    def min_interval_s(self) -> float:
        """This process's interval: the group's divided by its share."""
        return self._interval_s / self._share

    def set_share(self, share: float) -> None:
        """Take `share` (0 < share <= 1) of the host's concurrency and rate."""
        self._share = share
        self._slots.set_limit(max(1, math.floor(self._policy.concurrency * share)))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._wait_circuit()
        await self._slots.acquire()
        try:
            async with self._start_lock:
                await self._wait_due()
                if self.min_interval_s > 0:
                    self._next_start_s = math.inf
            try:
                yield
            finally:
                self.answered()
        finally:
            self._slots.release()

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
        """Raise the group's interval (Crawl-delay: the site asks it of all of us); never lowers it."""
        self._interval_s = max(self._interval_s, at_least_s)

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
        self._gates: collections.OrderedDict[str, HostGate] = collections.OrderedDict()
        self._share = 1.0

    def set_share(self, owned: int, total: int) -> None:
        """This consumer owns `owned` of the jobs topic's `total` partitions: take that share of every
        host's budget, for the gates that exist and those created later. Call on every rebalance."""
        self._share = group_share(owned, total)
        for gate in self._gates.values():
            gate.set_share(self._share)

    @contextlib.contextmanager
    def held(self, host: str) -> Iterator[HostGate]:
        """The host's gate, kept (not evicted) until the block ends: a request's whole path through it,
        robots.txt check and retries included, uses one gate, the one every other request to the host
        uses."""
        gate = self.gate(host)
        gate.holders += 1
        try:
            yield gate
        finally:
            gate.holders -= 1

    def gate(self, host: str) -> HostGate:
        host = host.lower()
        gates = self._gates
        gate = gates.get(host)
        if gate is not None:
            gates.move_to_end(host)
            return gate
        failures, cooldown_s = self._breaker
        gate = HostGate(self._policy_for(host), breaker_failures=failures, breaker_cooldown_s=cooldown_s)
        gate.set_share(self._share)
        gates[host] = gate
        if len(gates) > MAX_IDLE_GATES:
            self._evict_idle()
        return gate

    def _evict_idle(self) -> None:
        """Drop idle gates among the least recently used few; a busy one goes to the back of the line."""
        now_s = time.monotonic()
        gates = self._gates
        for _ in range(EVICT_SCAN):
            if len(gates) <= MAX_IDLE_GATES:
                return
            host, gate = next(iter(gates.items()))
            if gate.idle(now_s):
                del gates[host]
            else:
                gates.move_to_end(host)

    def __len__(self) -> int:
        """Gates held now (bounded by MAX_IDLE_GATES plus the hosts in use)."""
        return len(self._gates)

    def _policy_for(self, host: str) -> HostPolicy:
        """The override of the host or of its nearest listed parent domain (arxiv.org covers
        export.arxiv.org); an IPv4 literal matches only itself."""
        labels = [] if host.replace(".", "").isdigit() else host.split(".")
        for i in range(len(labels) - 1):
            policy = self._overrides.get(".".join(labels[i:]))
            if policy is not None:
                return policy
        return self._overrides.get(host, self._default)
