"""/metrics, /healthz and /readyz on --metrics-port, and the judgement behind them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from consumer.errors import PortUnavailable
from consumer.settings import ConsumerSettings

if TYPE_CHECKING:
    from consumer.assignment import Ownership
    from consumer.partition import Owned

log = logging.getLogger("docfetch.consumer")
REQUEST_TIMEOUT_S = 5.0  # a scrape is one short request; a slow client must not hold a connection


class Health:
    """Lag and progress per assigned partition, refreshed by the main loop once a tick.

    A lost partition (its sink gone, being re-acquired) keeps its last known committed position, so its
    lag and commit age stay exported and /healthz fails once it has lagged without progress long enough."""

    def __init__(self, own: Ownership, cfg: ConsumerSettings) -> None:
        self.own, self.cfg = own, cfg
        self.lag: dict[int, int] = {}
        self._done: dict[int, int] = {}  # partition -> last known committable offset

    async def observe(self, consumer: AIOKafkaConsumer) -> None:
        metrics = self.own.ctx.metrics
        metrics.inflight.set(self.own.inflight())
        self.lag = {}
        for tp, part in list(self.own.owned.items()):
            p, high = tp.partition, consumer.highwater(tp)
            if (done := part.tracker.committable) is not None:
                self._done[p] = done
            if high is not None and p in self._done:
                self.lag[p] = max(0, high - self._done[p])
                metrics.lag.labels(partition=str(p)).set(self.lag[p])
            metrics.oldest_unfinished_age.labels(partition=str(p)).set(self._oldest_unfinished_age_s(part))
        self._done = {p: d for p, d in self._done.items() if any(t.partition == p for t in self.own.owned)}

    def _oldest_unfinished_age_s(self, part: Owned) -> float:
        """The oldest unfinished job's age; for a lost partition, the time since its last progress."""
        if part.sink is None and self.lag.get(part.tp.partition, 0) > 0:
            return time.monotonic() - part.tracker.last_progress_s
        return part.tracker.oldest_open_age_s()

    def problems(self) -> list[str]:
        """Why /healthz fails: a partition with lag and no progress, or out of the group too long."""
        now, found = time.monotonic(), []
        for tp, part in list(self.own.owned.items()):
            stalled_s = now - part.tracker.last_progress_s
            if self.lag.get(tp.partition, 0) > 0 and stalled_s > self.cfg.stall_timeout_s:
                found.append(
                    f"partition {tp.partition} has lag {self.lag[tp.partition]} and no progress "
                    f"for {stalled_s:.0f}s"
                )
        since = self.own.out_of_group_since_s
        if since is not None and now - since > self.cfg.out_of_group_s:
            found.append(f"no partition assigned for {now - since:.0f}s")
        return found

    def ready(self) -> bool:
        return self.own.epoch > 0 and all(p.sink is not None for p in self.own.owned.values())


@contextlib.asynccontextmanager
async def serve_http(port: int, registry: CollectorRegistry, health: Health) -> AsyncIterator[None]:
    """Serve on 0.0.0.0:`port` for the block's duration; port 0 serves nothing."""
    if port == 0:
        yield
        return

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                line = await reader.readline()
                path = line.split()[1].decode() if len(line.split()) > 1 else "/"
                code, ctype, body = respond(path, registry, health)
                head = f"HTTP/1.1 {code}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
                await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    try:
        server = await asyncio.start_server(handle, "0.0.0.0", port)
    except OSError as exc:
        raise PortUnavailable(
            f"cannot serve metrics on port {port}: {exc.strerror} (another consumer on this machine? set "
            "--metrics-port / DOCFETCH_METRICS_PORT to a free port, or 0 for none)"
        ) from None
    log.info("event=http port=%d paths=/metrics,/healthz,/readyz", port)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


def respond(path: str, registry: CollectorRegistry, health: Health) -> tuple[str, str, bytes]:
    if path.startswith("/metrics"):
        return "200 OK", CONTENT_TYPE_LATEST, generate_latest(registry)
    if path.startswith("/healthz"):
        problems = health.problems()
        body = ("\n".join(problems) or "ok").encode() + b"\n"
        return ("503 Service Unavailable" if problems else "200 OK"), "text/plain", body
    if path.startswith("/readyz"):
        ok = health.ready()
        return (
            ("200 OK" if ok else "503 Service Unavailable"),
            "text/plain",
            b"ready\n" if ok else b"restoring\n",
        )
    return "404 Not Found", "text/plain", b"not found\n"
