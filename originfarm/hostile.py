"""Hostile origins: answers an attacker controls, each of which must cost the engine bounded time and
memory (issue 11; the table in docs/RELIABILITY.md "Hostile inputs"). Served by the farm's `hostile` host.

Routes (path segments):
  /huge-location/<bytes>/<hops>/<name>  a redirect chain whose every Location carries <bytes> of padding
  /fanout/<n>/<name>                    a redirect to a new origin each hop (f<n+1>.fanout.test), so every
                                        hop costs a DNS lookup and a robots.txt fetch (robots amplification)
  /robots-drip/<name>                   a PDF, on the name robots-drip.test whose robots.txt never ends
  /robots.txt                           under the Host robots-drip.test: 4 MiB dribbled at 640 bytes/s,
                                        so no single read ever times out; otherwise 404 (allow all)
"""

from __future__ import annotations

from originfarm.pdfgen import make_pdf
from originfarm.wire import Response

PDF = {"content-type": "application/pdf"}
# The dribbling robots.txt: 64 bytes every 100 ms, so each read answers well within any read timeout.
ROBOTS_DRIP = (64, 0.1)
ROBOTS_BYTES = 4 * 1024 * 1024
# Names under this domain resolve to the hostile host through the test's injected resolver.
FANOUT_DOMAIN = "fanout.test"
DRIP_NAME = "robots-drip.test"


def robots(host_header: str) -> Response:
    if host_header.split(":")[0] != DRIP_NAME:
        return Response(404, b"no robots.txt")
    body = (b"User-agent: *\nAllow: /\n# " + b"x" * ROBOTS_BYTES)[:ROBOTS_BYTES]
    return Response(200, body, {"content-type": "text/plain"}, drip=ROBOTS_DRIP)


def route(parts: list[str], *, port: int) -> Response:
    kind, rest = (parts[0], parts[1:]) if parts else ("", [])
    if kind == "huge-location" and len(rest) >= 3 and rest[0].isdigit() and rest[1].isdigit():
        return huge_location(int(rest[0]), int(rest[1]), rest[2])
    if kind == "fanout" and len(rest) == 2 and rest[0].isdigit():
        hop = int(rest[0]) + 1
        return _redirect(f"http://f{hop}.{FANOUT_DOMAIN}:{port}/fanout/{hop}/{rest[1]}")
    if kind == "robots-drip" and rest:
        return Response(200, make_pdf(rest[-1], 20_000), dict(PDF))
    return Response(404, b"no such hostile scenario")


def huge_location(pad_bytes: int, hops_left: int, name: str) -> Response:
    """302 to the next hop with `pad_bytes` of query padding; after the last hop, a PDF."""
    if hops_left <= 0:
        return Response(200, make_pdf(name, 20_000), dict(PDF))
    return _redirect(f"/huge-location/{pad_bytes}/{hops_left - 1}/{name}?pad={'a' * pad_bytes}")


def _redirect(location: str) -> Response:
    return Response(302, b"", {"location": location})
