"""A tiny loopback HTTP origin for fault scenarios: `/doc/<n>.pdf` gives deterministic PDF bytes.

It counts every request per path (a re-download is a second GET of a path) and can send the body slowly
(headers first, then `body_delay_s`), which keeps downloads in flight while a fault hits. The download
engine's origin farm (originfarm/) serves the richer origin faults; this one only needs to be countable.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from types import TracebackType

LOOPBACK = "127.0.0.1"
PAD_BYTES = 4096  # small bodies: the scenarios measure Kafka-side correctness, not bandwidth


def document(n: int) -> bytes:
    """The bytes served at /doc/<n>.pdf: distinct per n, so each job has its own artifact."""
    return b"%PDF-1.4\n" + f"docfetch fault document {n}\n".encode() + bytes(PAD_BYTES) + b"%%EOF\n"


def document_sha256(n: int) -> str:
    return hashlib.sha256(document(n)).hexdigest()


class Origin:
    """`async with Origin() as origin`: serves until the block ends; `origin.url(n)` is document n."""

    def __init__(self, *, body_delay_s: float = 0.0) -> None:
        self.body_delay_s = body_delay_s
        self.requests: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def __aenter__(self) -> Origin:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # Python 3.11's Server has no close_clients()
        await self._server.wait_closed()

    def url(self, n: int) -> str:
        return f"http://{LOOPBACK}:{self.port}/doc/{n}.pdf"

    @property
    def total_requests(self) -> int:
        """Document GETs only: the engine's one robots.txt fetch per host is not a download."""
        return sum(n for path, n in self.requests.items() if path != "/robots.txt")

    @property
    def redownloads(self) -> int:
        """Document GETs beyond the first of each document."""
        return sum(n - 1 for path, n in self.requests.items() if path != "/robots.txt")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while request := await reader.readuntil(b"\r\n\r\n"):
                path = request.split(b" ", 2)[1].decode()
                self.requests[path] += 1
                await self._respond(writer, path)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, path: str) -> None:
        name = path.rsplit("/", 1)[-1]
        if not (path.startswith("/doc/") and name.endswith(".pdf") and name[:-4].isdigit()):
            writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
            return
        body = document(int(name[:-4]))
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/pdf\r\ncontent-length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body[:16])
        await writer.drain()
        if self.body_delay_s:
            await asyncio.sleep(self.body_delay_s)
        writer.write(body[16:])
        await writer.drain()
