"""The origin farm: one asyncio server per simulated host, all on one port, with request statistics."""

from __future__ import annotations

import asyncio
import errno
import functools
import json
from types import TracebackType

from originfarm.hosts import HOSTS
from originfarm.scenarios import Scenarios
from originfarm.stats import FarmStats
from originfarm.wire import Request, Response, serve_connection, write_response

STATS_PATH = "/_farm/stats"
# Binding the other hosts to the port the first one got can collide with another process; retry.
BIND_ATTEMPTS = 20


class Farm:
    """`async with Farm(port=0) as farm:` serves every host; `farm.url("pdfs", "/pdf/1000/a.pdf")`."""

    def __init__(self, *, port: int = 0) -> None:
        self.port = port
        self.stats = FarmStats()
        self.scenarios = Scenarios(port=port)
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.Task[None]] = set()

    def url(self, host: str, path: str) -> str:
        return f"http://{HOSTS[host]}:{self.port}{path}"

    def base_urls(self) -> dict[str, str]:
        return {name: f"http://{address}:{self.port}" for name, address in HOSTS.items()}

    async def __aenter__(self) -> Farm:
        for _ in range(BIND_ATTEMPTS):
            try:
                await self._bind_all(self.port)
                return self
            except OSError as exc:
                await self._close()
                if exc.errno != errno.EADDRINUSE or self.port != 0:
                    raise
        raise OSError(errno.EADDRINUSE, "no free port for every farm host")

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _bind_all(self, port: int) -> None:
        for name, address in HOSTS.items():
            accept = functools.partial(self._connection, host=name)
            server = await asyncio.start_server(accept, host=address, port=port)
            self._servers.append(server)
            port = port or server.sockets[0].getsockname()[1]
        self.port = port
        self.scenarios.port = port

    async def _close(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        connections = list(self._connections)
        for task in connections:
            task.cancel()  # stalled bodies and idle keep-alive connections end with the farm
        await asyncio.gather(*connections, return_exceptions=True)
        for server in servers:
            await server.wait_closed()

    async def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, host: str
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await serve_connection(reader, writer, host=host, exchange=self._exchange)
        except asyncio.CancelledError:
            return  # the farm is closing; asyncio's stream callback would log a cancelled task as an error
        finally:
            self._connections.discard(task)

    async def _exchange(self, writer: asyncio.StreamWriter, request: Request) -> bool:
        if request.path == STATS_PATH:
            body = json.dumps(self.stats.as_json()).encode()
            response = Response(200, body, {"content-type": "application/json"})
            return await write_response(writer, response, method=request.method)
        host_stats = self.stats.host(request.host)
        host_stats.started(request.target)
        try:
            response = await self.scenarios.route(request)
            reuse = await write_response(writer, response, method=request.method)
        finally:
            host_stats.finished()
        return reuse and request.headers.get("connection", "").lower() != "close"
