"""What the farm saw: requests per host and path, concurrent open requests, gaps between requests."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class HostStats:
    """Counters of one simulated host."""

    requests: Counter[str] = field(default_factory=Counter)
    open_now: int = 0
    max_open: int = 0
    last_start_s: float | None = None
    min_gap_s: float | None = None
    starts_s: list[float] = field(default_factory=list)

    def started(self, path: str) -> None:
        now = time.monotonic()
        self.requests[path] += 1
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        if self.last_start_s is not None:
            gap = now - self.last_start_s
            self.min_gap_s = gap if self.min_gap_s is None else min(self.min_gap_s, gap)
        self.last_start_s = now
        self.starts_s.append(now)

    def finished(self) -> None:
        self.open_now -= 1

    def as_json(self) -> dict[str, object]:
        return {
            "requests": dict(self.requests),
            "total": sum(self.requests.values()),
            "open_now": self.open_now,
            "max_open": self.max_open,
            "min_gap_s": self.min_gap_s,
        }


@dataclass
class FarmStats:
    """Per-host stats, created on first use."""

    hosts: dict[str, HostStats] = field(default_factory=dict)

    def host(self, name: str) -> HostStats:
        return self.hosts.setdefault(name, HostStats())

    def count(self, name: str, path: str) -> int:
        """Requests to `path` (query included as requested) on host `name`."""
        return self.host(name).requests[path]

    def total(self, name: str) -> int:
        return sum(self.host(name).requests.values())

    def reset(self) -> None:
        self.hosts.clear()

    def as_json(self) -> dict[str, object]:
        return {name: stats.as_json() for name, stats in self.hosts.items()}
