"""The origin farm as a child process, the benchmark URL set and the engine's benchmark environment."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from bench.common import REPO

PDF_BYTES = 100 * 1024
HOSTS = ("pdfs", "repo", "polite")  # three simulated hosts, as a real crawl would spread its requests
CONCURRENCY = 16  # jobs (requests) in flight: the consumer's default, used by every contender

# Politeness off: benchmarks measure throughput, not manners (robots.txt stays on; the farm answers 404).
ENGINE_ENV = {
    "DOCFETCH_ALLOW_PRIVATE_HOSTS": "true",
    "DOCFETCH_HOST_MIN_INTERVAL_S": "0",
    "DOCFETCH_HOST_CONCURRENCY": "1000",
}


@contextlib.contextmanager
def running_farm() -> Iterator[dict[str, str]]:
    """`python -m originfarm serve --port 0` in a child; yields {host name: base URL}; kills it after."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "originfarm", "serve", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        bases: dict[str, str] = {}
        while "stats" not in bases:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"origin farm exited ({proc.wait()})")
            name, _, base = line.strip().partition("\t")
            bases[name] = base
        yield bases
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pdf_url(bases: dict[str, str], index: int, tag: str = "b") -> str:
    """The URL of job `index`: a 100 KiB PDF, hosts in rotation, a distinct body per name."""
    return f"{bases[HOSTS[index % len(HOSTS)]]}/pdf/{PDF_BYTES}/{tag}{index}.pdf"
