"""The peer: Scrapy downloading the benchmark URL set from the farm, each body written to disk.

Politeness off (no delay, no AutoThrottle, robots.txt not fetched), the same number of requests in flight
as docfetch's jobs. The rate counts from the first request to the last file written (reactor start-up
excluded, as docfetch's excludes the group join). Run as a child process (the reactor runs once a process):

    .venv/bin/python bench/peer_scrapy.py URLS_FILE OUT_DIR CONCURRENCY [polite]
    # prints rate=<pages/s> cpu_window_s=<user+sys CPU from first request to last file> cpu_total_s=<...>

`polite` is docfetch's default politeness in Scrapy's terms (per-host concurrency and a fixed delay
between a host's requests, robots.txt obeyed).
"""

from __future__ import annotations

import hashlib
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ScrapyRun:
    rate: float  # pages/s, first request to last file written
    cpu_window_s: float  # the child's user+sys CPU over that window
    cpu_total_s: float  # the child's user+sys CPU over its whole life (imports and reactor start-up too)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def politeness(polite: bool, concurrency: int) -> dict[str, object]:
    """Scrapy settings for politeness off, or for docfetch's defaults (EngineSettings) when on."""
    if not polite:
        return {"CONCURRENT_REQUESTS_PER_DOMAIN": concurrency, "DOWNLOAD_DELAY": 0, "ROBOTSTXT_OBEY": False}
    from consumer.fetch.settings import EngineSettings

    fields = EngineSettings.model_fields
    return {
        "CONCURRENT_REQUESTS_PER_DOMAIN": fields["host_concurrency"].default,
        "DOWNLOAD_DELAY": fields["host_min_interval_s"].default,
        "RANDOMIZE_DOWNLOAD_DELAY": False,
        "ROBOTSTXT_OBEY": True,
    }


def crawl(urls: list[str], out_dir: Path, concurrency: int, polite: bool = False) -> tuple[float, float]:
    """(pages/s, CPU s over the window) of one crawl in this process."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    saved, first, last = 0, 0.0, 0.0
    cpu_first, cpu_last = 0.0, 0.0

    class PdfSpider(scrapy.Spider):
        name = "bench-pdfs"

        async def start(self) -> AsyncIterator[scrapy.Request]:
            nonlocal first, cpu_first
            first, cpu_first = time.perf_counter(), cpu_s()
            for url in urls:
                yield scrapy.Request(url, dont_filter=True)

        def parse(self, response: scrapy.http.Response) -> None:
            nonlocal saved, last, cpu_last
            digest = hashlib.sha256(response.body).hexdigest()
            (out_dir / digest).write_bytes(response.body)
            saved += 1
            last, cpu_last = time.perf_counter(), cpu_s()

    process = CrawlerProcess(
        settings={
            "CONCURRENT_REQUESTS": concurrency,
            **politeness(polite, concurrency),
            "AUTOTHROTTLE_ENABLED": False,
            "COOKIES_ENABLED": False,
            "RETRY_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            "LOG_LEVEL": "WARNING",
        }
    )
    process.crawl(PdfSpider)
    process.start()
    if saved != len(urls):
        raise RuntimeError(f"scrapy saved {saved} of {len(urls)}")
    return saved / (last - first), cpu_last - cpu_first


def scrapy_rate(urls: list[str], concurrency: int) -> float:
    """Pages/s of a Scrapy child process over `urls` (written to a temporary directory)."""
    return scrapy_run(urls, concurrency).rate


def scrapy_run(urls: list[str], concurrency: int, polite: bool = False) -> ScrapyRun:
    """Rate and CPU of a Scrapy child process over `urls` (written to a temporary directory)."""
    with tempfile.TemporaryDirectory(prefix="bench-scrapy-") as root:
        listing = Path(root) / "urls.txt"
        listing.write_text("\n".join(urls))
        out = subprocess.run(
            [sys.executable, __file__, str(listing), root, str(concurrency), *(["polite"] if polite else [])],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120 + len(urls) / 10,
        )
    if out.returncode != 0:
        raise RuntimeError(f"scrapy exited {out.returncode}: {out.stderr[-2000:]}")
    fields = dict(part.split("=") for part in out.stdout.split() if "=" in part)
    return ScrapyRun(float(fields["rate"]), float(fields["cpu_window_s"]), float(fields["cpu_total_s"]))


if __name__ == "__main__":
    urls_file, out, conc = sys.argv[1:4]
    sys.path.insert(0, str(REPO))
    rate, cpu_window = crawl(
        Path(urls_file).read_text().split(), Path(out), int(conc), "polite" in sys.argv[4:]
    )
    print(f"rate={rate:.2f} cpu_window_s={cpu_window:.3f} cpu_total_s={cpu_s():.3f}")
