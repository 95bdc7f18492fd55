"""The connection pool grows with the download slots: --concurrency 1000 once waited for 256 connections."""

from __future__ import annotations

import asyncio

import pytest

from consumer.fetch import http
from consumer.fetch.safety import Safety, system_resolver
from consumer.fetch.settings import EngineSettings, HttpTransport

SLOTS = 300  # above the old fixed pool of 256


class HoldingOrigin:
    """Answers nothing until `want` requests are open at once (or a deadline): counts the peak."""

    def __init__(self, want: int) -> None:
        self.want, self.open, self.peak = want, 0, 0
        self.all_open = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.open += 1
        self.peak = max(self.peak, self.open)
        if self.open >= self.want:
            self.all_open.set()
        try:
            async with asyncio.timeout(3):
                await self.all_open.wait()
        except TimeoutError:
            pass
        finally:
            self.open -= 1
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()


@pytest.mark.parametrize("transport", list(HttpTransport))
async def test_pool_holds_one_connection_per_download_slot(transport: HttpTransport) -> None:
    origin = HoldingOrigin(SLOTS)
    server = await asyncio.start_server(origin.serve, "127.0.0.1", 0, backlog=SLOTS)
    port = server.sockets[0].getsockname()[1]
    settings = EngineSettings(allow_private_hosts=True, http_transport=transport)
    safety = Safety(allow_private=True, allowlist=("127.0.0.0/8",), resolver=system_resolver)
    async with server, http.make_client(settings, safety, max_connections=http.pool_size(SLOTS)) as client:
        url = f"http://127.0.0.1:{port}/doc"
        answers = await asyncio.gather(*(client.get(url) for _ in range(SLOTS)))
    assert all(a.status_code == 200 for a in answers)
    assert origin.peak == SLOTS, f"{origin.peak} requests open at once for {SLOTS} slots"
