"""The SSRF guard: schemes, literals, resolved names, and the loopback-only allowance of tests and demo."""

from __future__ import annotations

import pytest

from consumer.errors import FetchFailed
from consumer.fetch.safety import Safety
from schemas import Status

LOOPBACK_ONLY = ("127.0.0.0/8", "::1/128")


def _safety(*, allow_private: bool, names: dict[str, list[str]] | None = None) -> Safety:
    async def resolve(host: str) -> list[str]:
        if names is None or host not in names:
            raise OSError("unknown name")
        return names[host]

    return Safety(allow_private=allow_private, allowlist=LOOPBACK_ONLY, resolver=resolve)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/x.pdf",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://127.0.0.11/x.pdf",
        "http://[::1]/",
        "http://0.0.0.0/",
    ],
)
async def test_non_public_literals_refused_by_default(url: str) -> None:
    with pytest.raises(FetchFailed) as info:
        await _safety(allow_private=False).check(url)
    assert info.value.status is Status.BLOCKED_PRIVATE_ADDRESS


async def test_allowance_admits_loopback_only() -> None:
    safety = _safety(allow_private=True, names={"intranet.test": ["10.0.0.7"], "farm.test": ["127.0.0.12"]})
    await safety.check("http://127.0.0.11:8080/x.pdf")
    await safety.check("http://farm.test/x.pdf")
    for url in ("http://10.255.255.1/x.pdf", "http://intranet.test/x.pdf", "http://169.254.169.254/"):
        with pytest.raises(FetchFailed) as info:
            await safety.check(url)
        assert info.value.status is Status.BLOCKED_PRIVATE_ADDRESS


async def test_a_name_with_any_private_address_is_refused() -> None:
    safety = _safety(allow_private=False, names={"mixed.test": ["93.184.216.34", "10.0.0.1"]})
    with pytest.raises(FetchFailed):
        await safety.check("https://mixed.test/")
    await _safety(allow_private=False, names={"pub.test": ["93.184.216.34"]}).check("https://pub.test/")


@pytest.mark.parametrize(
    "url", ["ftp://example.org/x", "file:///etc/passwd", "javascript:alert(1)", "http:///x"]
)
async def test_non_http_urls_are_invalid(url: str) -> None:
    with pytest.raises(FetchFailed) as info:
        await _safety(allow_private=False).check(url)
    assert info.value.status is Status.INVALID_URL


async def test_unresolvable_name_is_a_connect_error() -> None:
    with pytest.raises(FetchFailed) as info:
        await _safety(allow_private=False).check("http://nowhere.test/")
    assert info.value.status is Status.CONNECT_ERROR and info.value.retryable
