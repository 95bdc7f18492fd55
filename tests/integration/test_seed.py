"""`docfetch-producer seed` on the real broker: formats, gzip, duplicates, bad lines, --skip-final."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas import State, Tier, job_id_for_url, job_id_for_work
from tests.conftest import MakeTopics
from tests.integration.seedfix import run_cli, summary, topic_jobs
from tests.integration.statefix import publish, record


def work(n: int, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"https://openalex.org/W{n}",
        "doi": f"https://doi.org/10.1/{n}",
        "primary_location": {"pdf_url": f"https://j.org/{n}.pdf", "landing_page_url": f"https://j.org/{n}",
                             "source": {"type": "journal"}},
        "locations": [{"pdf_url": f"https://arxiv.org/pdf/{n}", "source": {"type": "repository"}}],
        "cited_by_count": n,
    }  # fmt: skip
    base.update(extra)
    return base


def write_lines(path: Path, lines: list[bytes]) -> Path:
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


async def test_openalex_gz_with_duplicates(
    make_topics: MakeTopics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=3)
    lines = [orjson.dumps(work(n)) for n in (1, 2, 3)] + [orjson.dumps(work(2, cited_by_count=9)), b""]
    path = write_lines(tmp_path / "works.jsonl.gz", lines)

    code = await run_cli(settings, "seed", str(path), "--quiet")

    out = capsys.readouterr().out
    assert code == 0
    assert summary(out) == {"read": 5, "seeded": 3, "duplicate": 1, "skipped_final": 0, "rejected": 0,
                            "blank": 1}  # fmt: skip
    jobs, messages = await topic_jobs(settings)
    assert messages == 3
    job = jobs[job_id_for_work("W2")]
    # pdf_urls in location order (primary_location, then locations[]), one rank: producer/commands/openalex
    assert [c.tier for c in job.candidates] == [Tier.OA_PDF, Tier.REPOSITORY, Tier.DOI, Tier.LANDING]
    assert "producer: sent=3 acked=3 failed=0" in out


async def test_urls_format_with_header_and_canonical_duplicates(
    make_topics: MakeTopics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=2)
    path = write_lines(
        tmp_path / "urls.csv",
        [b"work_id,url", b"W10,https://x.org/a.pdf", b",https://x.org/b.pdf", b"https://X.org:443/c.pdf",
         b"https://x.org/./c.pdf", b"https://doi.org/10.9/z"],
    )  # fmt: skip

    code = await run_cli(settings, "seed", str(path), "--format", "urls", "--quiet")

    assert code == 0
    assert summary(capsys.readouterr().out)["duplicate"] == 1
    jobs, messages = await topic_jobs(settings)
    assert messages == 4
    assert set(jobs) == {
        job_id_for_work("W10"),
        job_id_for_url("https://x.org/b.pdf"),
        job_id_for_url("https://x.org/c.pdf"),
        job_id_for_url("https://doi.org/10.9/z"),
    }
    assert jobs[job_id_for_url("https://doi.org/10.9/z")].candidates[0].tier is Tier.DOI


BAD_LINES = [
    (b"{not json", "not-json"),
    (b'["W1"]', "wrong-shape"),
    (b'{"doi": "https://doi.org/10.1/1"}', "no-id"),
    (b'{"id": "https://openalex.org/A5", "doi": "https://doi.org/10.1/1"}', "bad-id"),
    (b'{"id": "W5", "locations": "https://x.org"}', "wrong-shape"),
    (b'{"id": "W6", "doi": null, "primary_location": {"pdf_url": "mailto:a@b"}}', "no-usable-url"),
]


async def test_every_kind_of_bad_line_is_reported_and_good_lines_seeded(
    make_topics: MakeTopics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=2)
    good = [orjson.dumps(work(n)) for n in (100, 101)]
    path = write_lines(tmp_path / "mixed.jsonl", [good[0], *(raw for raw, _ in BAD_LINES), good[1]])
    rejects = tmp_path / "rejects.jsonl"

    code = await run_cli(settings, "seed", str(path), "--rejects", str(rejects), "--quiet")

    captured = capsys.readouterr()
    assert code == 1
    assert summary(captured.out)["seeded"] == 2 and summary(captured.out)["rejected"] == len(BAD_LINES)
    expected = [(n + 2, reason) for n, (_raw, reason) in enumerate(BAD_LINES)]
    entries = [orjson.loads(x) for x in rejects.read_bytes().splitlines()]
    assert [(e["line"], e["reason"]) for e in entries] == expected
    assert entries[0]["raw"] == "{not json"
    for line_no, reason in expected:
        assert f"line {line_no}: {reason}:" in captured.err
    jobs, _ = await topic_jobs(settings)
    assert set(jobs) == {job_id_for_work("W100"), job_id_for_work("W101")}


async def test_bad_url_lines_and_max_errors(
    make_topics: MakeTopics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=1)
    path = write_lines(
        tmp_path / "urls.txt",
        [b"https://ok.org/1", b"W1,not a url", b"a,b,c", b"ftp://x.org/f", b"\xff\xfe", b"https://ok.org/2"],
    )

    code = await run_cli(settings, "seed", str(path), "--format", "urls", "--max-errors", "3", "--quiet")

    captured = capsys.readouterr()
    assert code == 1
    assert summary(captured.out) == {"read": 4, "seeded": 1, "duplicate": 0, "skipped_final": 0,
                                     "rejected": 3, "blank": 0}  # fmt: skip
    assert "stopped at line 4: 3 rejected lines (--max-errors)" in captured.err
    assert "line 2: invalid-url" in captured.err and "line 3: bad-csv" in captured.err
    _, messages = await topic_jobs(settings)
    assert messages == 1


async def test_reseed_with_skip_final_publishes_nothing_new(
    make_topics: MakeTopics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await make_topics(partitions=3)
    path = write_lines(tmp_path / "w.jsonl", [orjson.dumps(work(n)) for n in range(1, 6)])
    assert await run_cli(settings, "seed", str(path), "--quiet") == 0
    finals = [record(f"W{n}", State.FINALIZED) for n in range(1, 6)]
    await publish(settings, settings.state_topic, [record("W5", State.PLANNED), *finals])
    capsys.readouterr()

    code = await run_cli(settings, "seed", str(path), "--skip-final", "--quiet")

    assert code == 0
    assert summary(capsys.readouterr().out)["skipped_final"] == 5
    _, messages = await topic_jobs(settings)
    assert messages == 5  # the first seed only
