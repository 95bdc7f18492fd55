"""--pushgateway: the seed counters arrive at a (stand-in) Pushgateway as Prometheus text."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from producer.commands.jobsender import SendCounters
from producer.commands.seed import push_counters
from producer.commands.seedloop import Tally


class _Gateway(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Gateway.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_push_counters_sends_every_outcome() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        push_counters(
            f"127.0.0.1:{server.server_port}",
            tally=Tally(read=5, seeded=3, duplicate=1, rejected=1),
            counters=SendCounters(sent=3, acked=3, bytes_sent=1500),
        )
        thread.join(timeout=10)
    finally:
        server.server_close()
    path, body = _Gateway.received[-1]
    text = body.decode()
    assert path == "/metrics/job/docfetch_seed"
    assert 'docfetch_seed_lines{outcome="seeded"} 3.0' in text
    assert 'docfetch_seed_messages{outcome="acked"} 3.0' in text
    assert "docfetch_seed_bytes 1500.0" in text
