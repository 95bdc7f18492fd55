"""A loopback TCP proxy that can cut every connection or add latency for a while.

It sits between consumers and one broker listener. Kafka clients connect to the addresses brokers
advertise, so a broker must advertise the proxy's port for its clients to go through it (see
docs/RELIABILITY.md, "Network faults"). While `cut` is in force, open connections are reset and new ones
are accepted and closed at once, as a partitioned network looks to a client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import TracebackType

CHUNK_BYTES = 64 * 1024
LOOPBACK = "127.0.0.1"


class TcpProxy:
    """Forward `listen_port` on loopback to `target` (host, port); `async with` owns every connection."""

    def __init__(self, target: tuple[str, int], *, listen_port: int = 0) -> None:
        self.target = target
        self.listen_port = listen_port
        self.latency_s = 0.0
        self.connections_total = 0
        self._cut = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._tasks: asyncio.TaskGroup | None = None

    async def __aenter__(self) -> TcpProxy:
        self._tasks = await asyncio.TaskGroup().__aenter__()
        self._server = await asyncio.start_server(self._accept, LOOPBACK, self.listen_port)
        self.listen_port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None and self._tasks is not None
        self._server.close()
        self._abort_all()
        await self._server.wait_closed()
        await self._tasks.__aexit__(t, e, tb)

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.listen_port}"

    @property
    def open_connections(self) -> int:
        return len(self._writers) // 2

    def cut(self) -> None:
        """Reset every open connection and refuse new ones until `heal`."""
        self._cut = True
        self._abort_all()

    def heal(self) -> None:
        self._cut = False

    def set_latency(self, seconds: float) -> None:
        """Delay every chunk forwarded in either direction by `seconds` (0 turns it off)."""
        self.latency_s = seconds

    @contextlib.asynccontextmanager
    async def outage(self, seconds: float) -> AsyncIterator[TcpProxy]:
        """Cut for `seconds`, then heal; the body runs while the network is down."""
        self.cut()
        try:
            yield self
            await asyncio.sleep(seconds)
        finally:
            self.heal()

    def _abort_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self._cut:
            client_w.transport.abort()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        self.connections_total += 1
        self._writers.update((client_w, server_w))
        assert self._tasks is not None
        self._tasks.create_task(self._pipe(client_r, server_w, client_w))
        self._tasks.create_task(self._pipe(server_r, client_w, server_w))

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, peer: asyncio.StreamWriter
    ) -> None:
        """Copy src to dst until either side closes; then close both, as a real link would."""
        try:
            while chunk := await src.read(CHUNK_BYTES):
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                dst.write(chunk)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for writer in (dst, peer):
                self._writers.discard(writer)
                writer.transport.abort()
