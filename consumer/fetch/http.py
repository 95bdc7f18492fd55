"""The one place the HTTP client library is imported: httpx2, the maintained continuation of httpx."""

from __future__ import annotations

import httpx2 as httpx  # adopted over httpx 0.28 on the farm benchmark (docs/ENGINE.md)

from consumer.fetch.settings import EngineSettings
from schemas import Status

Client = httpx.AsyncClient
Response = httpx.Response
RequestError = httpx.RequestError
InvalidURL = httpx.InvalidURL
# Per-connection pool limits; the politeness gates keep per-host concurrency far below this.
MAX_CONNECTIONS = 256


def make_client(settings: EngineSettings) -> httpx.AsyncClient:
    """Redirects are followed by the engine (each hop is checked and recorded), never by the client."""
    timeout = httpx.Timeout(
        settings.read_timeout_s, connect=settings.connect_timeout_s, pool=settings.job_deadline_s
    )
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        http2=settings.http2,
        trust_env=False,
        headers={"user-agent": settings.user_agent, "accept": "application/pdf, text/html;q=0.8, */*;q=0.5"},
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS),
    )


def transport_status(exc: httpx.RequestError) -> Status:
    """The status of a failed exchange."""
    if isinstance(exc, httpx.TimeoutException):
        return Status.TIMEOUT
    if isinstance(exc, httpx.RemoteProtocolError):
        return Status.TRUNCATED_BODY
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return Status.INVALID_URL
    if isinstance(exc, httpx.DecodingError):
        return Status.TERMINAL_BAD_STATUS  # a body that cannot be decoded per its Content-Encoding
    return Status.CONNECT_ERROR
