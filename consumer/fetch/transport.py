"""httpx's transport API over aiohttp's client: the engine's default HTTP stack (measured in
docs/BENCHMARKS.md: about half the CPU per exchange of httpcore's pool).

The engine keeps speaking httpx (requests, streamed responses, its exceptions); only the exchange runs on
aiohttp. The SSRF guard is enforced where aiohttp connects: every name goes through `GuardedResolver` (each
address checked, the socket goes to a checked address, never to a second resolution), and every socket is
made by `guarded_socket`, which applies the same check to each address once more (IP literals, which
aiohttp never hands to a resolver) before any system call. Content-Encoding is decoded by httpx, as on the
httpcore transport, so the byte limits count decoded bytes the same way on both.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any

import aiohttp
import httpx2 as httpx
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from consumer.fetch.safety import Safety

# Called with each address before a socket connects to it; raises OSError to refuse (tests record here).
ConnectHook = Callable[[str], None]
# Addresses of one name tried in turn before a connect fails (each may take the whole connect timeout).
MAX_ADDRESSES_TRIED = 3
# Bounds of one response head: a status line, a header line, and the number of header lines. A hostile
# origin (a 1 MiB Location, endless headers) ends `terminal-bad-status` within about 1 MiB per exchange.
MAX_LINE_BYTES = 16 * 1024
MAX_FIELD_BYTES = 16 * 1024
MAX_HEADERS = 64
# What httpcore2's h11 says for an over-long head; http.transport_status maps it to terminal-bad-status.
OVERSIZED_HEAD = "Receive buffer too long"
_READ_CHUNK = 64 * 1024
_KEEPALIVE_S = 5.0  # as httpx's default pool


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver hook: the guard's checked addresses of a name (raises FetchFailed if refused)."""

    def __init__(self, safety: Safety) -> None:
        self._safety = safety

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        addresses = (await self._safety.connect_addresses(host))[:MAX_ADDRESSES_TRIED]
        return [_result(host, address, port) for address in addresses]

    async def close(self) -> None:
        return None


def _result(host: str, address: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return {
        "hostname": host,
        "host": address,
        "port": port,
        "family": family,
        "proto": 0,
        "flags": socket.AI_NUMERICHOST,
    }


def guarded_socket(safety: Safety, hook: ConnectHook | None) -> Callable[[Any], socket.socket]:
    """aiohttp's socket factory: refuses an unchecked address before creating the socket."""

    def make(addr_info: Any) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        address = str(sockaddr[0])
        if not safety.allowed(ipaddress.ip_address(address.split("%")[0])):
            raise OSError(f"refused address {address[:60]}")
        if hook is not None:
            hook(address)
        return socket.socket(family=family, type=type_, proto=proto)

    return make


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (its own connection pool), opened and closed with the httpx client."""

    def __init__(self, safety: Safety, *, max_connections: int, hook: ConnectHook | None = None) -> None:
        self._safety = safety
        self._hook = hook
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AiohttpTransport:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,  # the politeness gates bound per-host concurrency
            resolver=GuardedResolver(self._safety),
            use_dns_cache=False,  # one checked lookup per new connection, as on the httpcore transport
            socket_factory=guarded_socket(self._safety, self._hook),
            keepalive_timeout=_KEEPALIVE_S,
            ssl=httpx.create_ssl_context(trust_env=False),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx's client keeps the cookies
            auto_decompress=False,  # httpx decodes
            trust_env=False,
            # No skip_auto_headers (a sorted copy of the headers per request): httpx's request always
            # carries User-Agent, Accept and Accept-Encoding, so aiohttp's defaults are never added.
            max_line_size=MAX_LINE_BYTES,
            max_field_size=MAX_FIELD_BYTES,
            max_headers=MAX_HEADERS,
            read_bufsize=_READ_CHUNK,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert self._session is not None, "the transport is used inside `async with` its client"
        with mapped_errors():
            response = await self._session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),
                headers=list(request.headers.multi_items()),
                data=request.content or None,
                allow_redirects=False,
                compress=None,
                timeout=_timeout(request.extensions.get("timeout", {})),
            )
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,  # bytes, as httpcore gives them (httpx decodes on access)
            stream=_Body(response),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )


def _timeout(timeouts: dict[str, float | None]) -> aiohttp.ClientTimeout:
    """httpx's timeouts: `pool` bounds waiting for a pooled connection, `connect` the TCP/TLS setup,
    `read` each read."""
    return _client_timeout(timeouts.get("pool"), timeouts.get("connect"), timeouts.get("read"))


@functools.lru_cache(maxsize=16)  # the client's one Timeout, and the few a caller may set per request
def _client_timeout(pool: float | None, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect, sock_read=read)


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives; closing it early drops the connection (never reused mid-body)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with mapped_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


@contextlib.contextmanager
def mapped_errors() -> Iterator[None]:
    """aiohttp's exceptions as httpx's, so `http.transport_status` reads one vocabulary."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc)) from exc
    except aiohttp.SocketTimeoutError as exc:
        raise httpx.ReadTimeout(str(exc)) from exc
    except TimeoutError as exc:  # waiting for a pooled connection
        raise httpx.PoolTimeout(str(exc) or "no connection within the pool timeout") from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.UnsupportedProtocol(str(exc)) from exc
    except (aiohttp.ClientConnectorError, aiohttp.ClientConnectorDNSError) as exc:
        raise httpx.ConnectError(str(exc)) from exc
    except aiohttp.ClientResponseError as exc:  # the head could not be parsed
        raise httpx.RemoteProtocolError(_head_problem(exc)) from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
    except (aiohttp.ClientOSError, aiohttp.ClientConnectionError) as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc


def _head_problem(exc: aiohttp.ClientResponseError) -> str:
    text = str(exc.message)
    too_long = "Got more than" in text or "too long" in text.lower() or "Too many headers" in text
    return f"{OVERSIZED_HEAD}: {text[:200]}" if too_long else text[:200]
