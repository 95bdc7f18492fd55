"""An internet-shaped origin: N hosts on distinct loopback addresses, every answer after a latency.

Host i listens on 127.0.(1 + i // 250).(1 + i % 250), all on one port, one asyncio server per address,
HTTP/1.1 keep-alive. `GET /pdf/<name>.pdf` answers a distinct valid PDF of --body-kib KiB
(originfarm.make_pdf, content from the name) after --latency-ms ± --jitter; every other path (robots.txt
too) answers 404 after the same delay. Run as a child process so its CPU is not the contenders':

    .venv/bin/python -m bench.slow_origin --hosts 100 --latency-ms 200 --body-kib 32   # prints "port=<P>"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import sys

from originfarm.pdfgen import make_pdf

MAX_HEAD_BYTES = 16 * 1024
NOT_FOUND = b"not found\n"


def host_address(index: int) -> str:
    """The loopback address of host `index` (0-based); 127.0.0.x is left to other services."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def free_port(addresses: list[str]) -> int:
    """A port free on every address (tried from the kernel's choice for the first one)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port: int = probe.getsockname()[1]
        if all(_bindable(a, port) for a in addresses):
            return port
    raise RuntimeError("no port free on every address")


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


class Answers:
    """What the origin answers and when: the body for a path, the delay of each answer."""

    def __init__(self, body_bytes: int, latency_s: float, jitter: float) -> None:
        self.body_bytes, self.latency_s, self.jitter = body_bytes, latency_s, jitter

    def delay(self) -> float:
        return self.latency_s * random.uniform(1 - self.jitter, 1 + self.jitter)

    def response(self, method: str, path: str, close: bool) -> bytes:
        if path.startswith("/pdf/") and path.endswith(".pdf"):
            status, ctype, body = "200 OK", "application/pdf", make_pdf(path[5:-4], self.body_bytes)
        else:
            status, ctype, body = "404 Not Found", "text/plain", NOT_FOUND
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
        ).encode()
        return head if method == "HEAD" else head + body


class OriginProtocol(asyncio.Protocol):
    """One client connection: each request's answer is written after its delay, in request order."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.ready_at = 0.0  # answers leave in order: never before the previous one

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4 :]
            self._answer(head)
        if len(self.buffer) > MAX_HEAD_BYTES and self.transport is not None:
            self.transport.close()

    def _answer(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or self.transport is None:
            if self.transport is not None:
                self.transport.close()
            return
        close = any(h.lower().replace(" ", "") == "connection:close" for h in lines[1:])
        loop = asyncio.get_running_loop()
        self.ready_at = max(loop.time() + self.answers.delay(), self.ready_at)
        payload = self.answers.response(parts[0].upper(), parts[1].split("?")[0], close)
        loop.call_at(self.ready_at, self._send, payload, close)

    def _send(self, payload: bytes, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(payload)
        if close:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(hosts: int, answers: Answers) -> None:
    addresses = [host_address(i) for i in range(hosts)]
    port = free_port(addresses)
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        for address in addresses:
            server = await loop.create_server(
                lambda: OriginProtocol(answers), address, port, reuse_address=True, backlog=1024
            )
            await stack.enter_async_context(server)
        print(f"port={port}", flush=True)
        await asyncio.Event().wait()  # until the parent terminates this process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--jitter", type=float, default=0.1, help="± fraction of the latency [0.1]")
    parser.add_argument("--body-kib", type=int, default=32)
    args = parser.parse_args()
    answers = Answers(args.body_kib * 1024, args.latency_ms / 1000, args.jitter)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.hosts, answers))
    sys.exit(0)


if __name__ == "__main__":
    main()
