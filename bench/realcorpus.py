"""Measure the engine's own functions on the real-world corpus (issue 12): pages, records, URLs and
robots.txt files nobody on the project wrote. Reads the corpus in place; copies nothing into the repo.

    .venv/bin/python bench/realcorpus.py /work/shared/realcorpus [--verbose]

Scores (what passes is described in the corpus README): landing (pages with a PDF or none, engine path:
links first, soft-block markers only for a page that leads nowhere), softblock, validate, openalex,
canon (two spellings of one URL get one job id), robots (RFC 9309 cases of google/robotstxt + real files);
then hostile pages written here: parse time and the event loop's largest gap while one is parsed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consumer.errors import FetchFailed
from consumer.fetch import tiers
from consumer.fetch.download import Page
from consumer.fetch.engine import classify_page
from consumer.fetch.landing import Link
from consumer.fetch.robots import RobotsCache
from consumer.fetch.settings import EngineSettings
from consumer.fetch.validate import has_pdf_eof, is_pdf_head, looks_like_html
from producer.commands.openalex import job_from_work
from producer.errors import RejectedLine
from schemas import InvalidURL, Status, Tier, canonical_url, full_canonical_url
from schemas.doi import bare_doi

Lines = list[str]


def _canon(url: str) -> str | None:
    try:
        return canonical_url(url)
    except InvalidURL:
        return None


def _same_url(got: str, expected: str) -> bool:
    return got == expected or (_canon(got) is not None and _canon(got) == _canon(expected))


def landing(root: Path, out: Lines) -> None:
    cases = json.loads((root / "data/landing/cases.json").read_text())
    scores: dict[str, list[bool]] = defaultdict(list)
    for case in cases:
        html = gzip.decompress((root / "data" / case["file"]).read_bytes())
        verdict = classify_page(Page(url=case["base_url"], html=html))
        if case["expect_blocked"]:
            scores["softblock"].append(verdict is Status.SOFT_BLOCKED)
            ok = verdict is Status.SOFT_BLOCKED
        else:
            want = case["expect_pdf"]
            got = verdict.url if isinstance(verdict, Link) else None
            found = got is not None and any(_same_url(got, w) for w in want or [])
            ok = (want is None and verdict is None) or found
            scores["landing"].append(ok)
            scores[f"landing {case['basis']}"].append(ok)
        if not ok:
            out.append(f"  miss {case['id']}: got {verdict!r}, want {case.get('expect_pdf')}")
    for name in ("landing", "landing asserted", "landing annotated", "softblock"):
        out.insert(0, f"{name}: {sum(scores[name])}/{len(scores[name])}")


def validate(root: Path, out: Lines) -> None:
    pdf = (root / "data/validate/sandcrawler__dummy.pdf").read_bytes()
    pages = [gzip.decompress(p.read_bytes()) for p in sorted((root / "data/landing").glob("*.html.gz"))]
    checks = [is_pdf_head(pdf[:1024]) and has_pdf_eof(pdf[-1024:])]
    checks += [looks_like_html(p[:1024]) for p in pages]
    out.append(f"validate: {sum(checks)}/{len(checks)}")


def _first_expected(work: dict[str, Any], legacy: bool) -> str | None:
    best = work.get("best_oa_location") or {}
    if best.get("pdf_url"):
        return str(best["pdf_url"])
    for loc in work.get("locations") or []:
        if loc and loc.get("is_oa") and loc.get("pdf_url"):
            return str(loc["pdf_url"])
    oa_url = (work.get("open_access") or {}).get("oa_url")
    if legacy and oa_url:
        return str(oa_url)
    return str(work["doi"]) if work.get("doi") else None


def _openalex_ok(work: dict[str, Any], legacy: bool) -> bool:
    try:
        job = job_from_work(work, seeded_at_ms=0)
    except RejectedLine:
        return False
    resolver = EngineSettings().doi_resolver
    planned = [url for _, url in tiers.plan(job, resolver=resolver)]
    keys = {_canon(u) for u in planned} | {_canon(c.url) for c in job.candidates}
    locs = [work.get("best_oa_location"), work.get("primary_location"), *(work.get("locations") or [])]
    wanted = [loc.get(k) for loc in locs if loc for k in ("pdf_url", "landing_page_url")]
    wanted.append((work.get("open_access") or {}).get("oa_url"))
    if not all(_canon(u) in keys for u in wanted if u):
        return False
    doi = work.get("doi") or (work.get("ids") or {}).get("doi")
    if doi and tiers.resolver_url(resolver, doi) not in planned:
        return False
    first = _first_expected(work, legacy)
    first_url = tiers.resolver_url(resolver, first) if first and first == doi else first
    first_ok = first_url is None or _same_url(planned[0], first_url)
    return (
        job.work_id == work["id"].rsplit("/", 1)[-1]
        and job.doi == (bare_doi(doi) if doi else None)
        and first_ok
    )


def openalex(root: Path, out: Lines) -> None:
    scores: dict[str, list[bool]] = defaultdict(list)
    with gzip.open(root / "data/openalex/works.jsonl.gz", "rt") as lines:
        for line in lines:
            record = json.loads(line)
            legacy = record["schema"] != "current"
            name = "openalex-legacy-2021" if legacy else "openalex"
            scores[name].append(_openalex_ok(record["work"], legacy))
    out.extend(f"{name}: {sum(v)}/{len(v)}" for name, v in scores.items())


def canon(root: Path, out: Lines) -> None:
    w3lib = json.loads((root / "data/canon/w3lib_canonicalize_url.json").read_text())["cases"]
    whatwg = json.loads((root / "data/canon/whatwg_urltestdata_absolute_http.json").read_text())["cases"]
    pairs = [(c["input"], c["expected"], "w3lib") for c in w3lib]
    pairs += [(c["input"], c["href"].split("#")[0], "whatwg") for c in whatwg if "failure" not in c]
    same = [_canon(a) is not None and _canon(a) == _canon(b) for a, b, _ in pairs]
    out.append(f"canon: {sum(same)}/{len(pairs)} (one job id per URL)")
    strict = sum(_canon(a) == b for a, b, _ in pairs)
    out.append(f"  canon strict string equality with w3lib/WHATWG: {strict}/{len(pairs)}")
    failures = [c["input"] for c in whatwg if "failure" in c]
    rejected = sum(_canon(u) is None for u in failures)
    out.append(f"  WHATWG-invalid inputs rejected: {rejected}/{len(failures)}")
    keys: dict[str, set[str]] = defaultdict(set)
    for a, b, source in pairs:
        key = _canon(a)
        if source == "whatwg" and key is not None:
            keys[key].add(b)
    merged = {k: v for k, v in keys.items() if len(v) > 1}
    out.append(f"  distinct WHATWG URLs merged onto one key: {len(merged)}")
    out.extend(f"    merged {sorted(v)} -> {k}" for k, v in merged.items())
    inputs = [a for a, _, _ in pairs] + failures
    agree = sum(_full_or_none(u) == _canon(u) for u in inputs)
    out.append(f"  fast path agrees with canonical_url: {agree}/{len(inputs)}")
    for (a, b, source), ok in zip(pairs, same, strict=True):
        if not ok:
            out.append(f"  miss [{source}] {a!r} -> {_canon(a)!r} vs {b!r} -> {_canon(b)!r}")


def _full_or_none(url: str) -> str | None:
    try:
        return full_canonical_url(url)
    except InvalidURL:
        return None


async def _robots_allowed(body: bytes, agent: str, url: str) -> tuple[bool, float | None]:
    async def fetch(_: str, __: Tier) -> tuple[int, bytes]:
        return 200, body

    cache = RobotsCache(fetch=fetch, user_agent=agent, ttl_s=60.0)
    try:
        return True, await cache.check(url, tier=Tier.OA_PDF)
    except FetchFailed as exc:
        if exc.status is Status.ROBOTS_DISALLOWED:
            return False, None
        raise


async def robots(root: Path, out: Lines) -> None:
    google = json.loads((root / "data/robots/google_robots_test_cases.json").read_text())["cases"]
    real = json.loads((root / "data/robots/real_cases.json").read_text())["cases"]
    scores: dict[str, list[bool]] = defaultdict(list)
    misses: Lines = []
    for case in google:
        body = base64.b64decode(case["robots_b64"])
        allowed, _ = await _robots_allowed(body, case["user_agent"], case["url"])
        kind = "rfc9309" if case["test"].startswith("ID_") else "google-only"
        scores[kind].append(allowed == case["allowed"])
        if allowed != case["allowed"]:
            what = f"{case['test']} {case['user_agent']!r} {case['url']}"
            misses.append(f"  miss [{kind}] {what} want allowed={case['allowed']}")
    agent = EngineSettings().user_agent
    for case in real:
        body = (root / "data/robots/real" / case["file"]).read_bytes()
        allowed, delay = await _robots_allowed(body, agent, case["url"])
        ok = allowed == case["allowed"] and ("crawl_delay" not in case or delay == case["crawl_delay"])
        scores["real"].append(ok)
        if not ok:
            what = f"{case['file']} {case['url']}: allowed {allowed} delay {delay}"
            misses.append(f"  miss [real] {what}; {case['why']}")
    headline = scores["rfc9309"] + scores["real"]
    part = {name: f"{sum(v)}/{len(v)}" for name, v in scores.items()}
    out.append(
        f"robots: {sum(headline)}/{len(headline)} (RFC 9309 {part['rfc9309']}, real files {part['real']});"
        f" google-only {part['google-only']}"
    )
    out.extend(misses)


# Hostile pages of the max_html_bytes default (2 MiB), written here (not corpus data): parse cost, and the
# event loop's largest gap while the engine's page step runs in a worker thread.
HOSTILE_BYTES = 2 * 1024 * 1024
HOSTILE_PAGES = {
    "refresh of 3,200 spaces": b'<meta http-equiv=refresh content="' + b" " * 3200 + b'">',
    "400,000 nested <div>": b"<div>" * (HOSTILE_BYTES // 5),
    "60,000 PDF links": b'<a href="/x.pdf">Download PDF</a>' * (HOSTILE_BYTES // 35),
    "75,000 meta tags": b'<meta name="x" content="y">' * (HOSTILE_BYTES // 28),
}


async def _max_gap_s(page: Page) -> float:
    work = asyncio.ensure_future(asyncio.to_thread(classify_page, page))
    gap, last = 0.0, time.perf_counter()
    while not work.done():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        gap, last = max(gap, now - last), now
    await work
    return gap


def hostile(out: Lines, repeats: int) -> None:
    """Medians of `repeats` runs; the empty page's gap is the machine's noise floor (other load)."""
    for name, html in {"empty page": b"<p>", **HOSTILE_PAGES}.items():
        page = Page(url="https://journal.example/a", html=html)
        parse_ms, gap_ms = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            classify_page(page)
            parse_ms.append((time.perf_counter() - started) * 1000)
            gap_ms.append(asyncio.run(_max_gap_s(page)) * 1000)
        out.append(
            f"hostile {name} ({len(html)} B): parse {statistics.median(parse_ms):.1f} ms, "
            f"loop's largest gap {statistics.median(gap_ms):.1f} ms (medians of {repeats})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="the corpus directory (holds README.md and data/)")
    parser.add_argument("--verbose", action="store_true", help="list every miss")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each hostile page (medians)")
    args = parser.parse_args()
    sections: list[Lines] = [[], [], [], [], [], []]
    landing(args.corpus, sections[0])
    validate(args.corpus, sections[1])
    openalex(args.corpus, sections[2])
    canon(args.corpus, sections[3])
    asyncio.run(robots(args.corpus, sections[4]))
    hostile(sections[5], args.repeats)
    for lines in sections:
        for line in lines:
            if args.verbose or not line.startswith("  miss"):
                print(line)


if __name__ == "__main__":
    main()
