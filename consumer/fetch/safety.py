"""Refuse URLs the engine must not request: non-http(s) schemes and non-public addresses (SSRF)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from consumer.fetch.errors import FetchFailed
from schemas import Status

Resolver = Callable[[str], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


async def system_resolver(host: str) -> list[str]:
    """Every address the system resolver gives for `host`."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _valid_host(host: str) -> bool:
    """A DNS name (IDNA-encodable, letters/digits/hyphens/dots/underscores) or an IP literal."""
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return all(c.isalnum() or c in ".-_:%" for c in ascii_host)


class Safety:
    """Checks each hop before any connection: scheme, host, and every address the host resolves to."""

    def __init__(self, *, allow_private: bool, allowlist: tuple[str, ...], resolver: Resolver) -> None:
        self._allow_private = allow_private
        self._allowlist = tuple(ipaddress.ip_network(net) for net in allowlist)
        self._resolver = resolver

    async def check(self, url: str) -> None:
        """Raise FetchFailed(INVALID_URL | BLOCKED_PRIVATE_ADDRESS | CONNECT_ERROR) for a refused URL."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or not _valid_host(parts.hostname):
            raise FetchFailed(Status.INVALID_URL, f"not an http(s) URL: {url[:200]}")
        for address in await self._addresses(parts.hostname):
            if not self._allowed(ipaddress.ip_address(address.split("%")[0])):
                raise FetchFailed(Status.BLOCKED_PRIVATE_ADDRESS, f"{parts.hostname} -> {address}")

    async def _addresses(self, host: str) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass  # a name, not a literal: resolve it
        try:
            return await self._resolver(host)
        except OSError as exc:
            raise FetchFailed(Status.CONNECT_ERROR, f"cannot resolve {host}: {exc}") from exc

    def _allowed(self, address: IPAddress) -> bool:
        if address.is_global and not address.is_multicast:
            return True
        return self._allow_private and any(address in net for net in self._allowlist)
