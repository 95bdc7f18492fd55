"""The fault harness itself: process signals and waits, and the TCP proxy's cut and latency.

Fast and Kafka-free, so they run in the CI subset: a scenario that trusts a broken harness proves nothing.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.faults.harness import ProcessPool, TcpProxy

pytestmark = [pytest.mark.faults, pytest.mark.ci]

# A child that logs a line, then counts forever; SIGTERM makes it log and exit 0 (like a draining consumer).
CHILD = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (print("draining", flush=True), sys.exit(0)))
print("ready", flush=True)
n = 0
while True:
    n += 1
    print(n, flush=True)
    time.sleep(0.05)
"""


def proc_state(pid: int) -> str:
    """The kernel's one-letter state of `pid` (T = stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


async def test_kill9_sigterm_and_wait_timeouts(tmp_path: Path) -> None:
    async with ProcessPool(tmp_path) as pool:
        killed = pool.spawn("killed", [sys.executable, "-c", CHILD])
        drained = pool.spawn("drained", [sys.executable, "-c", CHILD])
        await killed.wait_for_log("^ready$", timeout_s=10)
        await drained.wait_for_log("^ready$", timeout_s=10)
        with pytest.raises(TimeoutError, match="still running"):
            await killed.wait(timeout_s=0.2)
        killed.kill()
        drained.terminate()
        assert await killed.wait(timeout_s=5) == -signal.SIGKILL
        assert await drained.wait(timeout_s=5) == 0
        assert "\ndraining\n" in drained.log_text() and "\ndraining\n" not in killed.log_text()
        with pytest.raises(AssertionError, match="exited"):
            await killed.wait_for_log("never printed", timeout_s=5)


async def test_sigstop_freezes_and_sigcont_resumes(tmp_path: Path) -> None:
    async with ProcessPool(tmp_path) as pool:
        child = pool.spawn("zombie", [sys.executable, "-c", CHILD])
        await child.wait_for_log("^3$", timeout_s=10)
        child.pause()
        await asyncio.sleep(0.2)
        frozen_at = child.log_text()
        await asyncio.sleep(0.3)
        assert proc_state(child.pid) == "T" and child.log_text() == frozen_at
        child.resume()
        await asyncio.sleep(0.3)
        assert len(child.log_text()) > len(frozen_at)
    assert not child.alive  # leaving the pool killed it


async def test_pool_kills_a_stopped_child_on_exit(tmp_path: Path) -> None:
    async with ProcessPool(tmp_path) as pool:
        child = pool.spawn("stopped", [sys.executable, "-c", CHILD])
        await child.wait_for_log("^ready$", timeout_s=10)
        child.pause()
    assert child.returncode == -signal.SIGKILL


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _roundtrip(address: str, payload: bytes) -> bytes:
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(payload)
        await writer.drain()
        return await reader.readexactly(len(payload))
    finally:
        writer.close()


async def test_proxy_forwards_cuts_and_heals() -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    async with server, TcpProxy(("127.0.0.1", server.sockets[0].getsockname()[1])) as proxy:
        assert await _roundtrip(proxy.address, b"hello") == b"hello"
        host, port = proxy.address.split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"x")
        assert await reader.readexactly(1) == b"x"
        proxy.cut()
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            writer.write(b"y")
            await writer.drain()
            await reader.readexactly(1)
        writer.close()
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await _roundtrip(proxy.address, b"refused")
        proxy.heal()
        assert await _roundtrip(proxy.address, b"again") == b"again"
        assert proxy.connections_total == 3


async def test_proxy_latency_delays_each_direction() -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    async with server, TcpProxy(("127.0.0.1", server.sockets[0].getsockname()[1])) as proxy:
        proxy.set_latency(0.2)
        started = time.monotonic()
        assert await _roundtrip(proxy.address, b"slow") == b"slow"
        slow_s = time.monotonic() - started
        proxy.set_latency(0)
        started = time.monotonic()
        await _roundtrip(proxy.address, b"fast")
        assert slow_s >= 0.4 > time.monotonic() - started  # 0.2 s each way, then none
