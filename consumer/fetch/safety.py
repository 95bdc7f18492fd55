"""Refuse URLs the engine must not request: non-http(s) schemes and non-public addresses (SSRF).

The address check runs where the connection is made (consumer.fetch.http's guarded network backend): the
host is resolved once per new connection, every address is checked, and the socket goes to a checked
address. A second, independent resolution by the client (DNS rebinding) therefore cannot redirect it.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from consumer.errors import FetchFailed
from consumer.fetch.run import spend_lookup
from schemas import Status

Resolver = Callable[[str], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 ranges whose low 32 bits are an IPv4 address the packet ends up at (checked as that address):
# NAT64 well-known and local-use prefixes (RFC 6052, RFC 8215), IPv4-translated (RFC 2765) and
# IPv4-compatible (RFC 4291, deprecated; :: and ::1 excluded, they are not IPv4).
_LOW32_EMBEDDING = tuple(
    ipaddress.IPv6Network(net) for net in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "::/96")
)
_NOT_EMBEDDING = ipaddress.IPv6Network("::/127")
# Host names whose verdict check_url remembers (a name is at most 253 characters, so at most ~2 MiB);
# longer hosts are judged afresh each time.
HOST_VERDICTS = 8192
MAX_CACHED_HOST_CHARS = 253


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


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None


def embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries (mapped, translated, compatible, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv4Address):
        return ()
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo  # (server, client): both are IPv4 hosts the traffic reaches
    if address not in _NOT_EMBEDDING and any(address in net for net in _LOW32_EMBEDDING):
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    return ()


class Safety:
    """Checks a URL (scheme, host) before a hop, and every address of a host before a connection."""

    def __init__(self, *, allow_private: bool, allowlist: tuple[str, ...], resolver: Resolver) -> None:
        self._allow_private = allow_private
        self._allowlist = tuple(ipaddress.ip_network(net) for net in allowlist)
        self._resolver = resolver
        # The verdict on a host name depends only on the name and the settings above: remembered.
        self._cached_verdict = functools.lru_cache(maxsize=HOST_VERDICTS)(self._host_verdict)

    def check_url(self, url: str) -> None:
        """Raise FetchFailed(INVALID_URL | BLOCKED_PRIVATE_ADDRESS) for a refused URL; no DNS lookup."""
        parts = urlsplit(url)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise FetchFailed(Status.INVALID_URL, f"not an http(s) URL: {url[:200]}")
        verdict = (
            self._cached_verdict(host) if len(host) <= MAX_CACHED_HOST_CHARS else self._host_verdict(host)
        )
        if verdict is Status.INVALID_URL:
            raise FetchFailed(Status.INVALID_URL, f"not an http(s) URL: {url[:200]}")
        if verdict is Status.BLOCKED_PRIVATE_ADDRESS:
            raise FetchFailed(Status.BLOCKED_PRIVATE_ADDRESS, f"{host[:200]}")

    def _host_verdict(self, host: str) -> Status | None:
        """None for a host check_url lets through, else the status it refuses it with."""
        if not _valid_host(host):
            return Status.INVALID_URL
        literal = _literal(host)
        if literal is not None and not self.allowed(literal):
            return Status.BLOCKED_PRIVATE_ADDRESS
        return None

    async def check(self, url: str) -> None:
        """`check_url`, then resolve the host and check every address (what a connection does)."""
        self.check_url(url)
        await self.connect_addresses(urlsplit(url).hostname or "")

    async def connect_addresses(self, host: str) -> list[str]:
        """The addresses to connect to for `host`, every one checked; raises BLOCKED_PRIVATE_ADDRESS if
        any is refused (a name with one private answer is refused whole) or CONNECT_ERROR if unresolvable."""
        addresses = await self._addresses(host)
        for address in addresses:
            parsed = _literal(address)
            if parsed is None or not self.allowed(parsed):
                raise FetchFailed(Status.BLOCKED_PRIVATE_ADDRESS, f"{host[:200]} -> {address[:60]}")
        if not addresses:
            raise FetchFailed(Status.CONNECT_ERROR, f"no address for {host[:200]}")
        return addresses

    async def _addresses(self, host: str) -> list[str]:
        if _literal(host) is not None:
            return [host]
        spend_lookup()  # a name: one DNS lookup, paid from the running job's budget
        try:
            return await self._resolver(host)
        except OSError as exc:
            raise FetchFailed(Status.CONNECT_ERROR, f"cannot resolve {host[:200]}: {exc}") from exc

    def allowed(self, address: IPAddress) -> bool:
        """Public unicast, or a private address in the allowlist when private hosts are allowed. An IPv6
        address embedding IPv4 is judged by the embedded address(es), where its packets end up."""
        embedded = embedded_ipv4(address)
        if embedded:
            return all(self.allowed(inner) for inner in embedded)
        if address.is_global and not address.is_multicast:
            return True
        return self._allow_private and any(address in net for net in self._allowlist)
