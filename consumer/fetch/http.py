"""The one place the HTTP client is made: the httpx API (httpx2, the maintained continuation of httpx)
over one of two transports, each enforcing the SSRF guard where it connects:

- `aiohttp` (default, consumer.fetch.transport): about half the CPU per exchange (docs/BENCHMARKS.md);
- `httpcore` (DOCFETCH_HTTP_TRANSPORT=httpcore): httpcore2's pool over `GuardedBackend`; the one with
  HTTP/2 (DOCFETCH_HTTP2).
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore2 as httpcore
import httpx2 as httpx  # adopted over httpx 0.28 on the farm benchmark (docs/ENGINE.md)

from consumer.fetch.safety import Safety
from consumer.fetch.settings import EngineSettings, HttpTransport
from consumer.fetch.transport import MAX_ADDRESSES_TRIED, OVERSIZED_HEAD, AiohttpTransport, ConnectHook
from schemas import Status

Client = httpx.AsyncClient
__all__ = ["MAX_ADDRESSES_TRIED", "OVERSIZED_HEAD", "ConnectHook"]
Response = httpx.Response
RequestError = httpx.RequestError
InvalidURL = httpx.InvalidURL
# Connections open at once, whatever the hosts: a download holds one, so the pool grows with the process's
# download slots (--concurrency 1000 once waited for 256 connections); the politeness gates bound each host.
MIN_POOL = 256
POOL_HEADROOM = 64  # robots.txt and landing-page fetches beside the downloads


def pool_size(concurrency: int) -> int:
    """The connection pool for `concurrency` download slots."""
    return max(MIN_POOL, concurrency + POOL_HEADROOM)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens every TCP connection to an address the guard checked, never to a name.

    The host is resolved once per connection (the engine's resolver), every address is checked, and the
    socket connects to a checked IP, tried in order. TLS is unaffected: httpcore starts TLS on the stream
    with the request's host name as SNI and for certificate verification, and the Host header comes from
    the URL.
    """

    def __init__(self, safety: Safety, hook: ConnectHook | None = None) -> None:
        self._safety = safety
        self._hook = hook
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        error: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in (await self._safety.connect_addresses(host))[:MAX_ADDRESSES_TRIED]:
            try:
                if self._hook is not None:
                    self._hook(address)
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except OSError as exc:  # the hook refused it
                error = httpcore.ConnectError(str(exc))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc  # the next checked address may answer
        assert error is not None, "connect_addresses returns at least one address"
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never used by the engine")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose connections go through `GuardedBackend`."""

    def __init__(self, backend: GuardedBackend, *, http2: bool, max_connections: int) -> None:
        limits = httpx.Limits(max_connections=max_connections)
        super().__init__(trust_env=False, http2=http2, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(  # replaces the default pool, which is never opened
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=backend,
        )


def make_client(
    settings: EngineSettings,
    safety: Safety,
    hook: ConnectHook | None = None,
    *,
    max_connections: int = MIN_POOL,
) -> httpx.AsyncClient:
    """Redirects are followed by the engine (each hop is checked and recorded), never by the client.
    `hook` sees every address before a socket connects to it (tests refuse non-loopback there);
    `max_connections` bounds the pool (`pool_size` of the download slots)."""
    timeout = httpx.Timeout(
        settings.read_timeout_s, connect=settings.http_connect_timeout_s, pool=settings.job_deadline_s
    )
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": settings.user_agent, "accept": "application/pdf, text/html;q=0.8, */*;q=0.5"},
        transport=_transport(settings, safety, hook, max_connections),
    )


def _transport(
    settings: EngineSettings, safety: Safety, hook: ConnectHook | None, max_connections: int
) -> httpx.AsyncBaseTransport:
    if settings.http_transport is HttpTransport.HTTPCORE:
        backend = GuardedBackend(safety, hook)
        return GuardedTransport(backend, http2=settings.http2, max_connections=max_connections)
    return AiohttpTransport(safety, max_connections=max_connections, hook=hook)


def transport_status(exc: httpx.RequestError) -> Status:
    """The status of a failed exchange."""
    if isinstance(exc, httpx.TimeoutException):
        return Status.TIMEOUT
    if isinstance(exc, httpx.RemoteProtocolError):
        if OVERSIZED_HEAD in str(exc):
            return Status.TERMINAL_BAD_STATUS  # the origin's answer, not a cut connection: no retry
        return Status.TRUNCATED_BODY
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return Status.INVALID_URL
    if isinstance(exc, httpx.DecodingError):
        return Status.TERMINAL_BAD_STATUS  # a body that cannot be decoded per its Content-Encoding
    return Status.CONNECT_ERROR
