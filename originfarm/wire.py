"""A small HTTP/1.1 server on asyncio streams: GET/HEAD, keep-alive, and deliberately broken bodies."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

# Requests are tiny (GET, no body); anything bigger is not a client of ours.
MAX_HEAD_BYTES = 16 * 1024
# An idle keep-alive connection is closed after this long.
IDLE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Request:
    host: str  # the simulated host name (from the address the connection came in on)
    method: str
    target: str  # path and query, as sent
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class Response:
    """What to send. `drip` = (chunk bytes, delay s) sends the body slowly; `stall_after` stops sending
    after that many body bytes and holds the connection; `declared_extra` inflates Content-Length."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drip: tuple[int, float] | None = None
    stall_after: int | None = None
    declared_extra: int = 0


async def read_request(reader: asyncio.StreamReader, host: str) -> Request | None:
    """The next request on the connection, or None at EOF / on garbage."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    split = urlsplit(parts[1])
    return Request(host, parts[0].upper(), parts[1], split.path, split.query, headers)


def head_bytes(response: Response, *, keep_alive: bool) -> bytes:
    reason = HTTPStatus(response.status).phrase if response.status in HTTPStatus._value2member_map_ else ""
    headers = {"content-length": str(len(response.body) + response.declared_extra), **response.headers}
    headers["connection"] = "keep-alive" if keep_alive else "close"
    lines = [f"HTTP/1.1 {response.status} {reason}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def write_response(writer: asyncio.StreamWriter, response: Response, *, method: str) -> bool:
    """Send `response`; returns whether the connection may be reused."""
    broken = response.declared_extra > 0 or response.stall_after is not None
    keep_alive = not broken
    writer.write(head_bytes(response, keep_alive=keep_alive))
    body = b"" if method == "HEAD" else response.body
    if response.stall_after is not None:
        writer.write(body[: response.stall_after])
        await writer.drain()
        await asyncio.Event().wait()  # held until the client goes away and the server cancels us
    if response.drip is not None:
        await _drip(writer, body, *response.drip)
    else:
        writer.write(body)
    await writer.drain()
    return keep_alive


async def _drip(writer: asyncio.StreamWriter, body: bytes, chunk_bytes: int, delay_s: float) -> None:
    for start in range(0, len(body), chunk_bytes):
        writer.write(body[start : start + chunk_bytes])
        await writer.drain()
        await asyncio.sleep(delay_s)


Exchange = Callable[[asyncio.StreamWriter, Request], Awaitable[bool]]


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, host: str, exchange: Exchange
) -> None:
    """Answer requests on one connection until the client closes it or a response ends it."""
    try:
        while True:
            async with asyncio.timeout(IDLE_TIMEOUT_S):
                request = await read_request(reader, host)
            if request is None:
                return
            if not await exchange(writer, request):
                return
    except (TimeoutError, ConnectionError):
        return
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
