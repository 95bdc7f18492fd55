"""The seed's mapping workers: each job carries Kafka's default partition; n workers keep line order."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner

from producer.commands.jobmapping import BATCH_LINES, Batch, batches, outcome_batches

PARTITIONS = 6


def _write_mixed(path: Path, lines: int) -> None:
    """URL lines with a reject, a blank and an over-long line in several batches."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as out:  # type: ignore[operator]
        for n in range(1, lines + 1):
            if n % 337 == 0:
                out.write(b"not a url\n")
            elif n % 401 == 0:
                out.write(b"\n")
            elif n == 777:
                out.write(b"https://example.org/" + b"a" * 5000 + b"\n")
            else:
                out.write(f"https://example.org/{n}.pdf\n".encode())


def test_each_job_carries_the_default_partitioners_partition(tmp_path: Path) -> None:
    seed = tmp_path / "urls.txt"
    _write_mixed(seed, 300)
    outcomes = [o for _, b in outcome_batches(str(seed), "urls", partitions=PARTITIONS) for o in b]
    jobs = [o for o in outcomes if o[0] == "job"]
    assert len(jobs) == 300
    everyone = list(range(PARTITIONS))
    assert [o[4] for o in jobs] == [DefaultPartitioner()(o[2].encode(), everyone, everyone) for o in jobs]
    assert len({o[4] for o in jobs}) == PARTITIONS


async def _all(path: Path, workers: int) -> list[Batch]:
    return [b async for b in batches(str(path), "urls", 4096, partitions=PARTITIONS, workers=workers)]


def _shape(got: list[Batch]) -> list[tuple[object, ...]]:
    """Each outcome without the job message (its seeded_at_ms is the time it was mapped)."""
    return [o[:3] + o[4:] if o[0] == "job" else o for _, b in got for o in b]


@pytest.mark.parametrize("name", ["urls.txt", "urls.gz"])
@pytest.mark.parametrize("lines", [5 * BATCH_LINES + 123, 4 * BATCH_LINES])
async def test_several_workers_give_the_outcomes_of_one_in_line_order(
    tmp_path: Path, name: str, lines: int
) -> None:
    seed = tmp_path / name
    _write_mixed(seed, lines)
    one, three = await _all(seed, 1), await _all(seed, 3)
    assert _shape(three) == _shape(one)
    assert [o[1] for _, b in three for o in b] == list(range(1, lines + 1))
    assert [len(b) for _, b in three] == [len(b) for _, b in one]
    assert [p for p, _ in three] == sorted(p for p, _ in three)
    assert three[-1][0] == one[-1][0]  # the end position of the file
    kinds = {o[0] for _, b in three for o in b}
    assert kinds == {"job", "reject", "blank"}
