"""DNS rebinding: the engine connects only to the address its guard checked, on every kind of request.

A "secret" origin listens on 127.0.0.1 behind the name `localhost` (which the system resolver maps to
loopback). The engine's resolver answers a public address first and loopback afterwards, as a rebinding
DNS server would. The sockets go through a backend that refuses every non-loopback address before the
system call, so nothing is ever sent off this machine; what it was asked to connect to is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from consumer.fetch import Engine, EngineSettings
from consumer.fetch.safety import Resolver
from consumer.fetch.settings import HttpTransport
from consumer.outcome import FetchOutcome
from consumer.storage import Store
from originfarm import make_pdf
from originfarm.wire import Request, Response, serve_connection, write_response
from schemas import JobMessage, Status, Tier
from tests.integration.farm_fixtures import make_job

PUBLIC = "93.184.216.34"
LOOPBACK = "127.0.0.1"
SECRET = make_pdf("internal-secret.pdf", 20_000)


class LoopbackOnly:
    """The engine's connect hook: refuses every non-loopback address before any system call, and
    records each address the engine was about to connect to."""

    def __init__(self) -> None:
        self.targets: list[str] = []

    def __call__(self, address: str) -> None:
        self.targets.append(address)
        if address not in (LOOPBACK, "::1") and not address.startswith("127."):
            raise OSError(f"test network: {address} is not loopback")


@pytest.fixture(params=[t.value for t in HttpTransport])
def transport(request: pytest.FixtureRequest) -> str:
    """Every test runs on both transports: each enforces the guard where it connects."""
    return str(request.param)


def rebinding(first: str, then: str) -> tuple[list[str], Resolver]:
    """A resolver answering `first` on the first lookup and `then` on every later one; the names asked."""
    asked: list[str] = []

    async def resolve(host: str) -> list[str]:
        asked.append(host)
        return [first if len(asked) == 1 else then]

    return asked, resolve


@contextlib.asynccontextmanager
async def secret_origin() -> AsyncIterator[tuple[int, list[str]]]:
    """An origin on 127.0.0.1 serving a PDF at every path; yields (port, paths requested)."""
    seen: list[str] = []

    async def exchange(writer: asyncio.StreamWriter, request: Request) -> bool:
        seen.append(request.path)
        status = 404 if request.path == "/robots.txt" else 200
        return await write_response(writer, Response(status, SECRET), method=request.method)

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(reader, writer, host="secret", exchange=exchange)

    server = await asyncio.start_server(accept, host=LOOPBACK, port=0)
    async with server:
        yield server.sockets[0].getsockname()[1], seen


def settings_for(port: int, **overrides: object) -> EngineSettings:
    """Fast test settings; the DOI resolver and the archive are names of the secret origin too."""
    values: dict[str, object] = {
        "doi_resolver": f"http://localhost:{port}/doi/",
        "wayback_availability_url": f"http://localhost:{port}/wayback/available",
        "retry_attempts": 1,
        "read_timeout_s": 2.0,
        "http_connect_timeout_s": 2.0,
        "job_deadline_s": 20.0,
        "host_min_interval_s": 0.0,
    }
    values.update(overrides)
    return EngineSettings.model_validate(values)


async def _fetch(
    cfg: EngineSettings, job: JobMessage, tmp_path: Path, resolve: Resolver, network: LoopbackOnly
) -> FetchOutcome:
    store = Store(tmp_path, max_bytes=cfg.max_bytes)
    async with Engine(settings=cfg, store=store, resolver=resolve, connect_hook=network) as engine:
        return await engine.fetch(job)


async def _fetch_secret(
    tmp_path: Path, resolve: Resolver, *, transport: str, allow_private_hosts: bool
) -> tuple[FetchOutcome, LoopbackOnly, list[str]]:
    """Fetch the secret origin's /internal-secret.pdf as `localhost`: the outcome, where the engine
    connected, and the paths the origin saw."""
    network = LoopbackOnly()
    async with secret_origin() as (port, seen):
        job = make_job((Tier.OA_PDF, f"http://localhost:{port}/internal-secret.pdf"))
        cfg = settings_for(port, http_transport=transport, allow_private_hosts=allow_private_hosts)
        outcome = await _fetch(cfg, job, tmp_path, resolve, network)
    return outcome, network, seen


async def test_rebinding_to_loopback_never_reaches_the_origin(tmp_path: Path, transport: str) -> None:
    asked, resolve = rebinding(PUBLIC, LOOPBACK)
    outcome, network, seen = await _fetch_secret(
        tmp_path, resolve, transport=transport, allow_private_hosts=False
    )
    assert seen == [], f"the loopback origin was reached: {seen}"
    assert outcome.status is not Status.SUCCESS
    assert set(network.targets) <= {PUBLIC}, network.targets  # only checked addresses, never loopback
    assert asked and set(asked) == {"localhost"}


async def test_doi_and_archive_lookups_connect_through_the_guard(tmp_path: Path, transport: str) -> None:
    """The DOI resolver and the web archive are names too: resolved at connect time, loopback refused."""
    asked: list[str] = []

    async def resolve(host: str) -> list[str]:
        asked.append(host)
        return [PUBLIC if asked == ["cand.test"] else LOOPBACK]

    network = LoopbackOnly()
    async with secret_origin() as (port, seen):
        cfg = settings_for(
            port,
            http_transport=transport,
            allow_private_hosts=False,
            doi_resolver=f"http://doi.test:{port}/",
            wayback_availability_url=f"http://archive.test:{port}/wayback/available",
        )
        job = make_job((Tier.OA_PDF, f"http://cand.test:{port}/a.pdf"), doi="10.5555/rebind")
        outcome = await _fetch(cfg, job, tmp_path, resolve, network)
    assert seen == []
    assert outcome.status is Status.CONNECT_ERROR  # the candidate's (refused) public address
    assert network.targets == [PUBLIC]
    assert asked == ["cand.test", "doi.test", "archive.test"]


async def test_loopback_first_answer_succeeds_when_private_hosts_are_allowed(
    tmp_path: Path, transport: str
) -> None:
    _, resolve = rebinding(LOOPBACK, LOOPBACK)
    outcome, network, seen = await _fetch_secret(
        tmp_path, resolve, transport=transport, allow_private_hosts=True
    )
    assert outcome.status is Status.SUCCESS, outcome
    assert "/internal-secret.pdf" in seen
    assert set(network.targets) == {LOOPBACK}


async def test_the_next_checked_address_is_tried_when_one_refuses(tmp_path: Path, transport: str) -> None:
    async def resolve(host: str) -> list[str]:
        return ["127.0.0.2", LOOPBACK]  # nothing listens on 127.0.0.2: connection refused

    outcome, network, seen = await _fetch_secret(
        tmp_path, resolve, transport=transport, allow_private_hosts=True
    )
    assert outcome.status is Status.SUCCESS, outcome
    assert network.targets[:2] == ["127.0.0.2", LOOPBACK]
    assert "/internal-secret.pdf" in seen
