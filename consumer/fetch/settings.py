"""Engine settings (prefix DOCFETCH_): read once by the process, then passed to `Engine`."""

from __future__ import annotations

import enum
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class HttpTransport(enum.StrEnum):
    """What carries the engine's httpx requests (consumer.fetch.http)."""

    AIOHTTP = "aiohttp"
    HTTPCORE = "httpcore"


class EngineSettings(BaseSettings):
    """Limits, politeness and endpoints of the download engine."""

    model_config = SettingsConfigDict(env_prefix="DOCFETCH_", extra="forbid", frozen=True)

    doi_resolver: str = "https://doi.org/"
    wayback_availability_url: str = "https://archive.org/wayback/available"
    # Off in production. When on, only addresses in private_allowlist pass (loopback by default), so a
    # test or demo never reaches a real private network.
    allow_private_hosts: bool = False
    private_allowlist: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    # aiohttp (default, the cheaper per exchange) or httpcore (httpcore2's pool; the one with HTTP/2).
    http_transport: HttpTransport = HttpTransport.AIOHTTP
    # HTTP/2 needs the h2 package (the `http2` extra of the client library) and the httpcore transport.
    http2: bool = False
    user_agent: str = "docfetch/0.1 (+mailto:docfetch-ops@example.org)"
    job_deadline_s: float = Field(default=120.0, gt=0)
    # The HTTP connect timeout; DOCFETCH_CONNECT_TIMEOUT_S is the Kafka one (schemas.settings).
    http_connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=30.0, gt=0)
    max_hops: int = Field(default=20, ge=1)
    max_redirects: int = Field(default=8, ge=0)
    max_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    # Landing pages bigger than this are not parsed (real ones are well under 1 MiB).
    max_html_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    # Pages parsed at once, each in a worker thread so a big page never stalls the event loop.
    parse_workers: int = Field(default=2, ge=1)
    # Tries of one request on a transient failure (connect, timeout, 429, 5xx), backing off with jitter.
    retry_attempts: int = Field(default=3, ge=1)
    retry_backoff_s: float = Field(default=0.5, ge=0)
    retry_after_cap_s: float = Field(default=30.0, ge=0)
    host_concurrency: int = Field(default=2, ge=1)
    host_min_interval_s: float = Field(default=0.25, ge=0)
    robots_ttl_s: float = Field(default=3600.0, ge=0)
    # A robots.txt Crawl-delay is honoured as asked (arXiv: 15 s); a host asking more than this is not
    # fetched faster: its jobs end `rate-limited` (retryable) and are requeued later.
    crawl_delay_cap_s: float = Field(default=60.0, ge=0)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_cooldown_s: float = Field(default=60.0, ge=0)
    # JSON {"export.arxiv.org": {"concurrency": 1, "min_interval_s": 3.0}}: per-host politeness overrides.
    host_overrides_path: Path | None = None
    # Web-archive lookups per job (one per failed candidate, in order).
    wayback_max_lookups: int = Field(default=3, ge=0)

    @model_validator(mode="after")
    def _http2_needs_httpcore(self) -> EngineSettings:
        if self.http2 and self.http_transport is not HttpTransport.HTTPCORE:
            raise ValueError(
                "DOCFETCH_HTTP2=true needs DOCFETCH_HTTP_TRANSPORT=httpcore (aiohttp speaks HTTP/1.1)"
            )
        return self
