"""`docfetch-producer hosts [--top N] [--by jobs|failures|bytes] [--json]`: the busiest hosts (state topic).

Every terminal record (FINALIZED or FAILED) counts once for one host: its final URL's host when it has
one, else the host of its last hop (where the job gave up). Memory is bounded however many hosts there
are: a space-saving counter (Metwally et al., 2005) keeps at most `--capacity` hosts; a new host beyond
that replaces the one with the fewest jobs and inherits its count as `error` (the count is then an upper
bound, at most `error` too high). Any host with more than records/capacity jobs is guaranteed to be kept.
Failures, bytes and last status are counted from the moment a host (re)entered the table.
"""

from __future__ import annotations

import argparse
import heapq
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from schemas import KafkaSettings, peek_state_attempt
from schemas.settings import add_kafka_flags, kafka_settings
from schemas.topicreader import iter_topic

DEFAULT_TOP = 20
# 50x the default top: hosts below the top 20 are kept with exact counts unless the tail is huge.
DEFAULT_CAPACITY = 1000
ORDERS = ("jobs", "failures", "bytes")


@dataclass
class HostStats:
    host: str
    jobs: int = 0
    error: int = 0  # jobs may be over-counted by at most this (inherited on eviction)
    failures: int = 0
    bytes: int = 0
    last_status: str | None = None
    last_ts_ms: int = 0


class SpaceSaving:
    """At most `capacity` hosts; a new host evicts the one with the fewest jobs (space-saving)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.hosts: dict[str, HostStats] = {}
        self._heap: list[tuple[int, str]] = []  # (jobs, host), lazily updated: stale entries skipped
        self.records = 0

    def add(self, host: str, *, failed: bool, size: int, status: str | None, ts_ms: int) -> None:
        self.records += 1
        stats = self.hosts.get(host) or self._admit(host)
        stats.jobs += 1
        stats.failures += failed
        stats.bytes += size
        if ts_ms >= stats.last_ts_ms:
            stats.last_status, stats.last_ts_ms = status, ts_ms
        heapq.heappush(self._heap, (stats.jobs, host))
        if (
            len(self._heap) > 4 * self.capacity
        ):  # drop stale heap entries now and then: heap stays O(capacity)
            self._heap = [(s.jobs, h) for h, s in self.hosts.items()]
            heapq.heapify(self._heap)

    def _admit(self, host: str) -> HostStats:
        inherited = 0
        if len(self.hosts) >= self.capacity:
            inherited = self._evict_min()
        stats = HostStats(host=host, jobs=inherited, error=inherited)
        self.hosts[host] = stats
        return stats

    def _evict_min(self) -> int:
        while True:
            jobs, host = heapq.heappop(self._heap)
            stats = self.hosts.get(host)
            if stats is not None and stats.jobs == jobs:
                del self.hosts[host]
                return jobs

    def top(self, n: int, *, by: str) -> list[HostStats]:
        return sorted(self.hosts.values(), key=lambda s: (-getattr(s, by), s.host))[:n]


def host_of(record: dict[str, Any]) -> str:
    """The final URL's host, else the last hop's, else "-" (no request was made)."""
    url = record.get("final_url") or next((h.get("url") for h in reversed(record.get("hops") or [])), None)
    if not isinstance(url, str):
        return "-"
    try:
        return (urlsplit(url).hostname or "-").lower()
    except ValueError:
        return "-"


def add_record(counter: SpaceSaving, raw: bytes) -> None:
    """Count one state record if it is terminal; PLANNED and undecodable ones are skipped."""
    fast = peek_state_attempt(raw)
    if fast is not None and fast[0] == "PLANNED":
        return
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return
    if not isinstance(record, dict) or record.get("state") not in ("FINALIZED", "FAILED"):
        return
    size, ts_ms = record.get("size"), record.get("ts_ms")
    size, ts_ms = (size if isinstance(size, int) else 0), (ts_ms if isinstance(ts_ms, int) else 0)
    counter.add(host_of(record), failed=record["state"] == "FAILED", size=size, status=record.get("status"),
                ts_ms=ts_ms)  # fmt: skip


async def count_hosts(settings: KafkaSettings, *, capacity: int) -> SpaceSaving:
    counter = SpaceSaving(capacity)
    async for rec in iter_topic(settings, settings.state_topic):
        if rec.value is not None:
            add_record(counter, rec.value)
    return counter


def render(counter: SpaceSaving, top: list[HostStats], *, by: str) -> str:
    lines = [f"{len(counter.hosts)} hosts kept (capacity {counter.capacity}), {counter.records} terminal "
             f"records; top {len(top)} by {by}:",
             f"  {'host':<40} {'jobs':>9} {'failures':>9} {'bytes':>14}  last status"]  # fmt: skip
    for s in top:
        jobs = f"{s.jobs}" if not s.error else f"≤{s.jobs}"
        lines.append(f"  {s.host:<40} {jobs:>9} {s.failures:>9} {s.bytes:>14}  {s.last_status or '-'}")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> int:
    counter = await count_hosts(kafka_settings(args), capacity=max(args.capacity, args.top))
    top = counter.top(args.top, by=args.by)
    if args.json:
        doc = {"records": counter.records, "capacity": counter.capacity, "by": args.by,
               "hosts": [asdict(s) for s in top]}  # fmt: skip
        print(orjson.dumps(doc).decode())
    else:
        print(render(counter, top, by=args.by))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "hosts",
        help="top hosts by jobs, failures or bytes, with their last status (bounded memory)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--top", type=int, default=DEFAULT_TOP, help=f"hosts shown ({DEFAULT_TOP})")
    parser.add_argument("--by", choices=ORDERS, default="jobs", help="order (jobs)")
    parser.add_argument("--capacity", type=int, default=DEFAULT_CAPACITY,
                        help=f"hosts counted at most (memory bound, {DEFAULT_CAPACITY})")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="one JSON object: records, hosts [...]")
    add_kafka_flags(parser)
    parser.set_defaults(handler=run)
