"""The peer: Scrapy downloading the benchmark URL set from the farm, each body written to disk.

Politeness off (no delay, no AutoThrottle, robots.txt not fetched), the same number of requests in flight
as docfetch's jobs. The rate counts from the first request to the last file written (reactor start-up
excluded, as docfetch's excludes the group join). Run as a child process (the reactor runs once a process):

    .venv/bin/python bench/peer_scrapy.py URLS_FILE OUT_DIR CONCURRENCY   # prints rate=<pages/s>
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def crawl(urls: list[str], out_dir: Path, concurrency: int) -> float:
    import scrapy
    from scrapy.crawler import CrawlerProcess

    saved, first, last = 0, 0.0, 0.0

    class PdfSpider(scrapy.Spider):
        name = "bench-pdfs"

        async def start(self) -> AsyncIterator[scrapy.Request]:
            nonlocal first
            first = time.perf_counter()
            for url in urls:
                yield scrapy.Request(url, dont_filter=True)

        def parse(self, response: scrapy.http.Response) -> None:
            nonlocal saved, last
            digest = hashlib.sha256(response.body).hexdigest()
            (out_dir / digest).write_bytes(response.body)
            saved += 1
            last = time.perf_counter()

    process = CrawlerProcess(
        settings={
            "CONCURRENT_REQUESTS": concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
            "DOWNLOAD_DELAY": 0,
            "AUTOTHROTTLE_ENABLED": False,
            "ROBOTSTXT_OBEY": False,
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
    return saved / (last - first)


def scrapy_rate(urls: list[str], concurrency: int) -> float:
    """Pages/s of a Scrapy child process over `urls` (written to a temporary directory)."""
    with tempfile.TemporaryDirectory(prefix="bench-scrapy-") as root:
        listing = Path(root) / "urls.txt"
        listing.write_text("\n".join(urls))
        out = subprocess.run(
            [sys.executable, __file__, str(listing), root, str(concurrency)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120 + len(urls) / 10,
        )
    if out.returncode != 0:
        raise RuntimeError(f"scrapy exited {out.returncode}: {out.stderr[-2000:]}")
    return float(out.stdout.split("rate=")[1])


if __name__ == "__main__":
    urls_file, out, conc = sys.argv[1:4]
    rate = crawl(Path(urls_file).read_text().split(), Path(out), int(conc))
    print(f"rate={rate:.2f}")
