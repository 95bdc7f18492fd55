"""The transport choice and the aiohttp transport's pure parts (the exchanges run in
tests/integration/test_engine_scenarios.py and test_engine_rebinding.py on both transports)."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import httpx2 as httpx
import pytest
from pydantic import ValidationError

from consumer.fetch import http
from consumer.fetch.safety import Safety
from consumer.fetch.settings import EngineSettings, HttpTransport
from consumer.fetch.transport import GuardedResolver, guarded_socket, mapped_errors
from schemas import Status


def test_aiohttp_is_the_default_transport() -> None:
    assert EngineSettings().http_transport is HttpTransport.AIOHTTP


def test_http2_without_the_httpcore_transport_is_refused() -> None:
    with pytest.raises(ValidationError, match="DOCFETCH_HTTP_TRANSPORT=httpcore"):
        EngineSettings(http2=True)
    assert EngineSettings(http2=True, http_transport=HttpTransport.HTTPCORE).http2


async def _public(host: str) -> list[str]:
    return ["93.184.216.34", "93.184.216.35", "93.184.216.36", "93.184.216.37"]


async def test_resolver_answers_checked_addresses_capped() -> None:
    safety = Safety(allow_private=False, allowlist=(), resolver=_public)
    answers = await GuardedResolver(safety).resolve("example.org", 443)
    assert [a["host"] for a in answers] == ["93.184.216.34", "93.184.216.35", "93.184.216.36"]
    assert all(a["port"] == 443 and a["family"] == socket.AF_INET for a in answers)


def test_socket_factory_refuses_a_private_address_before_the_socket_exists() -> None:
    seen: list[str] = []
    make = guarded_socket(Safety(allow_private=False, allowlist=(), resolver=_public), seen.append)
    with pytest.raises(OSError, match=r"refused address 127\.0\.0\.1"):
        make((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)))
    assert seen == []  # the hook never saw it: refused first


@pytest.mark.parametrize(
    ("raised", "status"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), Status.TIMEOUT),
        (aiohttp.SocketTimeoutError("read"), Status.TIMEOUT),
        (aiohttp.ServerDisconnectedError(), Status.TRUNCATED_BODY),
        (aiohttp.ClientPayloadError("Response payload is not completed"), Status.TRUNCATED_BODY),
        (aiohttp.InvalidURL("ftp://x"), Status.INVALID_URL),
        (aiohttp.ClientOSError(104, "reset"), Status.CONNECT_ERROR),
    ],
)
def test_aiohttp_errors_map_to_the_statuses_of_the_httpcore_transport(
    raised: Exception, status: Status
) -> None:
    with pytest.raises(httpx.RequestError) as caught, mapped_errors():
        raise raised
    assert http.transport_status(caught.value) is status


async def _latin1_origin(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    body = b"%PDF-1.4 x %%EOF"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nX-Title: caf\xe9\r\n"
    writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    writer.close()


async def test_a_non_ascii_header_byte_reaches_the_engine_as_on_httpcore() -> None:
    """Header bytes go to httpx as bytes (its latin-1 fallback), not decoded and re-encoded as ASCII."""
    server = await asyncio.start_server(_latin1_origin, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = EngineSettings(allow_private_hosts=True)
    safety = Safety(allow_private=True, allowlist=settings.private_allowlist, resolver=_public)
    url = f"http://127.0.0.1:{port}/x.pdf"
    async with server, http.make_client(settings, safety) as client, client.stream("GET", url) as response:
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert response.headers["x-title"] == "café"
    assert body == b"%PDF-1.4 x %%EOF"


async def test_the_request_carries_the_engines_headers_not_aiohttps() -> None:
    heads: list[bytes] = []

    async def origin(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append((await reader.readuntil(b"\r\n\r\n")).lower())
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(origin, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = EngineSettings(allow_private_hosts=True)
    safety = Safety(allow_private=True, allowlist=settings.private_allowlist, resolver=_public)
    async with server, http.make_client(settings, safety) as client:
        assert (await client.get(f"http://127.0.0.1:{port}/")).status_code == 204
    lines = heads[0].decode().split("\r\n")
    assert f"user-agent: {settings.user_agent.lower()}" in lines
    assert "accept: application/pdf, text/html;q=0.8, */*;q=0.5" in lines
    assert not any("aiohttp" in line for line in lines)
    assert sum(line.startswith(("user-agent:", "accept:", "accept-encoding:")) for line in lines) == 3
