"""The bundled demo sample: every work mapped by the producer's OpenAlex mapping, fetched by the Engine from
the farm; each kind of work ends as designed. Also: the committed sample is the generator's output."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import orjson

from consumer.fetch import Engine
from consumer.outcome import FetchOutcome
from consumer.storage import Store
from originfarm import Farm
from originfarm.sample import sample_lines
from producer.commands.openalex import job_from_work
from schemas import Status, Tier
from tests.integration.farm_fixtures import engine_settings, origin_farm

__all__ = ["origin_farm"]

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "sample" / "works.jsonl"
EXPECTED_HIT_TIERS = {
    "oa_pdf": {Tier.OA_PDF},
    "repository": {Tier.REPOSITORY},
    "doi": {Tier.LANDING},
    "archive": {Tier.ARCHIVE},
}
FAILURE_STATUSES = {
    Status.NOT_FOUND,
    Status.FORBIDDEN,
    Status.WRONG_MIMETYPE,
    Status.EMPTY_BODY,
    Status.SOFT_BLOCKED,
    Status.TRUNCATED_BODY,
    Status.REDIRECT_LOOP,
}


class _Counting:
    """A FetchObserver that counts what the engine reports."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[Tier, str]] = Counter()
        self.bytes = 0

    def http_request(self, tier: Tier, code_class: str) -> None:
        self.requests[(tier, code_class)] += 1

    def bytes_downloaded(self, count: int) -> None:
        self.bytes += count


def test_committed_sample_is_the_generators_output() -> None:
    assert SAMPLE.read_text().splitlines() == list(sample_lines(port=8970))


async def test_every_sample_work_ends_as_designed(origin_farm: Farm, tmp_path: Path) -> None:
    works = [orjson.loads(line) for line in sample_lines(port=origin_farm.port)]
    observer = _Counting()
    settings = engine_settings(origin_farm, host_concurrency=8)
    store = Store(tmp_path, max_bytes=settings.max_bytes)
    async with Engine(settings=settings, store=store, observer=observer) as engine:
        outcomes = await _fetch_all(engine, works)
    kinds = Counter()
    for work, outcome in zip(works, outcomes, strict=True):
        kind = re.search(r"\((\w+)\)$", work["title"]).group(1)
        kinds[kind] += 1
        if kind == "failure":
            assert outcome.status in FAILURE_STATUSES, (work["id"], outcome)
        else:
            assert outcome.ok and outcome.finalized.tier in EXPECTED_HIT_TIERS[kind], (work["id"], outcome)
    assert set(kinds) == {*EXPECTED_HIT_TIERS, "failure"}
    hits = [o for o in outcomes if o.ok]
    assert observer.bytes >= sum(o.finalized.size or 0 for o in hits)
    assert observer.requests[(Tier.OA_PDF, "2xx")] > 0 and observer.requests[(Tier.ARCHIVE, "2xx")] > 0


async def _fetch_all(engine: Engine, works: list[dict[str, object]]) -> list[FetchOutcome]:
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(engine.fetch(job_from_work(work, seeded_at_ms=0))) for work in works]
    return [task.result() for task in tasks]
