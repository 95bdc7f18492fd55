"""IPv6 spellings that carry an IPv4 address are judged by that IPv4 address (where the packets go)."""

from __future__ import annotations

import ipaddress

import pytest

from consumer.errors import FetchFailed
from consumer.fetch.safety import Safety, embedded_ipv4
from schemas import Status

LOOPBACK_ONLY = ("127.0.0.0/8", "::1/128")


def _safety(*, allow_private: bool) -> Safety:
    async def no_dns(host: str) -> list[str]:
        raise OSError("no DNS in this test")

    return Safety(allow_private=allow_private, allowlist=LOOPBACK_ONLY, resolver=no_dns)


# (form, IPv6 spelling, the IPv4 address it embeds); 169.254.169.254 is the cloud metadata service.
EMBEDDED = [
    ("nat64", "64:ff9b::a9fe:a9fe", "169.254.169.254"),
    ("nat64-local", "64:ff9b:1::a9fe:a9fe", "169.254.169.254"),
    ("6to4", "2002:a9fe:a9fe::1", "169.254.169.254"),
    ("ipv4-compatible", "::a9fe:a9fe", "169.254.169.254"),
    ("ipv4-compatible-loopback", "::7f00:1", "127.0.0.1"),
    ("ipv4-mapped", "::ffff:a9fe:a9fe", "169.254.169.254"),
    ("ipv4-translated", "::ffff:0:a9fe:a9fe", "169.254.169.254"),
    ("nat64-private", "64:ff9b::a00:1", "10.0.0.1"),
]


@pytest.mark.parametrize(("form", "spelling", "ipv4"), EMBEDDED, ids=[e[0] for e in EMBEDDED])
async def test_embedded_private_ipv4_is_refused(form: str, spelling: str, ipv4: str) -> None:
    assert ipaddress.IPv4Address(ipv4) in embedded_ipv4(ipaddress.IPv6Address(spelling))
    with pytest.raises(FetchFailed) as info:
        await _safety(allow_private=False).check(f"http://[{spelling}]/x.pdf")
    assert info.value.status is Status.BLOCKED_PRIVATE_ADDRESS
    with pytest.raises(FetchFailed) as names:
        await _safety(allow_private=False).connect_addresses(spelling)
    assert names.value.status is Status.BLOCKED_PRIVATE_ADDRESS


def test_teredo_checks_server_and_client() -> None:
    # server 65.54.227.120, client 192.0.2.45 (documentation range, not global): refused
    teredo = ipaddress.IPv6Address("2001:0:4136:e378:8000:63bf:3fff:fdd2")
    assert embedded_ipv4(teredo) == (
        ipaddress.IPv4Address("65.54.227.120"),
        ipaddress.IPv4Address("192.0.2.45"),
    )
    assert not _safety(allow_private=False).allowed(teredo)


@pytest.mark.parametrize("spelling", ["64:ff9b::5db8:d822", "2002:5db8:d822::1", "::ffff:5db8:d822"])
def test_embedded_public_ipv4_passes(spelling: str) -> None:
    assert _safety(allow_private=False).allowed(ipaddress.IPv6Address(spelling))  # 93.184.216.34


def test_loopback_allowance_follows_the_embedded_address() -> None:
    allowing = _safety(allow_private=True)
    assert allowing.allowed(ipaddress.IPv6Address("::1"))  # not IPv4-compatible: ::1 itself
    assert allowing.allowed(ipaddress.IPv6Address("::ffff:127.0.0.1"))
    assert not allowing.allowed(ipaddress.IPv6Address("64:ff9b::a9fe:a9fe"))
    assert not _safety(allow_private=False).allowed(ipaddress.IPv6Address("::"))
