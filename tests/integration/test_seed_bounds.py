"""`seed` on the real broker with hostile lines: too long (flag and DOCFETCH_ setting) and out of bounds."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from producer.commands.seedfile import EXCERPT_BYTES
from tests.conftest import MakeTopics
from tests.integration.seedfix import run_cli, summary, topic_jobs


def _lines(path: Path) -> Path:
    path.write_bytes(
        b"https://example.org/ok-1.pdf\n"
        + b"https://example.org/" + b"a" * 5000 + b".pdf\n"  # 5025 bytes: past a 4096-byte limit
        + b"W" + b"1" * 300 + b",https://example.org/long-work-id.pdf\n"  # work id past MAX_WORK_ID_CHARS
        + b"https://example.org/ok-2.pdf\n"
    )  # fmt: skip
    return path


async def test_long_and_out_of_bounds_lines_are_rejected_by_number(
    make_topics: MakeTopics,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The limit from DOCFETCH_SEED_MAX_LINE_BYTES (the flag's path is tests/unit/test_seed_long_lines.py)."""
    settings = await make_topics(partitions=2)
    seed, rejects = _lines(tmp_path / "urls.txt"), tmp_path / "rejects.jsonl"
    monkeypatch.setenv("DOCFETCH_SEED_MAX_LINE_BYTES", "4096")
    code = await run_cli(settings, "seed", str(seed), "--format", "urls", "--rejects", str(rejects))
    captured = capsys.readouterr()
    assert code == 1
    assert summary(captured.out) == {"read": 4, "seeded": 2, "duplicate": 0, "skipped_final": 0,
                                     "rejected": 2, "blank": 0}  # fmt: skip
    assert "line 2: line-too-long: line of 5025 bytes is longer than 4096" in captured.err
    entries = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [(e["line"], e["reason"]) for e in entries] == [(2, "line-too-long"), (3, "out-of-bounds")]
    assert len(entries[0]["raw"]) == EXCERPT_BYTES and entries[0]["truncated"] is True
    assert "work_id" in entries[1]["detail"]
    _, messages = await topic_jobs(settings)
    assert messages == 2
