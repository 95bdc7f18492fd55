"""The simulated hosts: one loopback address each (on Linux all of 127.0.0.0/8 is bound to lo)."""

from __future__ import annotations

# Name -> address. Tests and the sample build URLs from these; 127.0.0.1 is left to other services.
HOSTS: dict[str, str] = {
    "pdfs": "127.0.0.11",  # open-access PDFs and every failure kind of a direct download
    "repo": "127.0.0.12",  # a repository holding copies
    "doi": "127.0.0.13",  # the DOI resolver imitation: /10.x/... -> landing page
    "publisher": "127.0.0.14",  # landing pages with each meta-tag variant
    "archive": "127.0.0.15",  # Wayback availability API and raw `id_` replay
    "strict": "127.0.0.16",  # robots.txt disallowing /private/ with a Crawl-delay
    "polite": "127.0.0.17",  # plain PDFs, for politeness measurements
    "robots5xx": "127.0.0.18",  # robots.txt answers 503
    "hostile": "127.0.0.19",  # hostile origins (originfarm/hostile.py)
}

# A literal in a private range: the engine must refuse it before connecting. Nothing listens there.
PRIVATE_ADDRESS = "10.255.255.1"

ADDRESS_TO_HOST = {address: name for name, address in HOSTS.items()}
