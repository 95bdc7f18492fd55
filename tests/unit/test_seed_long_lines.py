"""Seed lines are read with a length limit: a 200 MB line is rejected by number, never held whole."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from producer.commands.jobmapping import outcome_batches
from producer.commands.seedfile import EXCERPT_BYTES, OverlongLine, SeedFile

HUGE_LINE_BYTES = 200 * 1024 * 1024
# The mapping process with its imports stays near 60 MB; reading the 200 MB line whole took 841 MB.
PEAK_RSS_LIMIT_MB = 150


def _write_with_huge_line(path: Path, *, opener: object = open) -> None:
    """Line 1 a URL, line 2 a 200 MB URL (streamed to disk in 1 MiB pieces), line 3 a URL."""
    with opener(path, "wb") as out:  # type: ignore[operator]
        out.write(b"https://example.org/first.pdf\n")
        out.write(b"https://example.org/")
        piece = b"a" * (1024 * 1024)
        for _ in range(HUGE_LINE_BYTES // len(piece)):
            out.write(piece)
        out.write(b"\nhttps://example.org/third.pdf\n")


def test_huge_line_is_rejected_by_number_with_bounded_memory(tmp_path: Path) -> None:
    seed = tmp_path / "huge.txt"
    _write_with_huge_line(seed)
    script = textwrap.dedent(
        f"""
        import json, re
        from producer.commands.jobmapping import outcome_batches
        outcomes = [o for _, batch in outcome_batches({str(seed)!r}, "urls") for o in batch]
        # VmHWM is this process image's peak; ru_maxrss would carry over the forking parent's size.
        status = open("/proc/self/status").read()
        peak_mb = int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) / 1024
        print(json.dumps({{"peak_mb": peak_mb, "outcomes": [[o[0], o[1], o[2] if o[0] == "reject" else "",
                                                             len(o[-1])] for o in outcomes]}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    kinds = [(kind, line, reason) for kind, line, reason, _ in result["outcomes"]]
    assert kinds == [("job", 1, ""), ("reject", 2, "line-too-long"), ("job", 3, "")]
    assert result["outcomes"][1][3] == EXCERPT_BYTES  # the rejects file gets the excerpt only
    assert result["peak_mb"] < PEAK_RSS_LIMIT_MB, result["peak_mb"]


@pytest.mark.parametrize("compressed", [False, True])
def test_the_limit_is_exact_and_the_next_line_is_intact(tmp_path: Path, compressed: bool) -> None:
    seed = tmp_path / ("lines.gz" if compressed else "lines.txt")
    opener = gzip.open if compressed else open
    with opener(seed, "wb") as out:
        out.write(b"x" * 2047 + b"\n")  # 2048 bytes with its newline: at the limit
        out.write(b"y" * 5000 + b"\r\n")  # past it
        out.write(b"z" * 10 + b"\n")
        out.write(b"w" * 3000)  # past it, no final newline
    with SeedFile(str(seed), max_line_bytes=2048) as lines:
        got = [(lines.line_no, item) for item in lines]
    assert got[0] == (1, b"x" * 2047)
    assert got[1][0] == 2 and got[1][1] == OverlongLine(b"y" * EXCERPT_BYTES, 5002)
    assert got[2] == (3, b"z" * 10)
    assert got[3][0] == 4 and isinstance(got[3][1], OverlongLine) and got[3][1].length_bytes == 3000


def test_overlong_reject_names_the_limit(tmp_path: Path) -> None:
    seed = tmp_path / "one.txt"
    seed.write_bytes(b"https://example.org/" + b"a" * 5000 + b"\n")
    [(_, [reject])] = list(outcome_batches(str(seed), "urls", max_line_bytes=4096))
    assert reject[:3] == ("reject", 1, "line-too-long")
    assert "5021 bytes" in reject[3] and "4096" in reject[3]
    assert len(reject[4]) == EXCERPT_BYTES


def test_line_limit_comes_from_the_flag_then_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from producer.commands.seed import _max_line_bytes
    from producer.errors import ConfigError

    assert _max_line_bytes(None) == 1024 * 1024
    monkeypatch.setenv("DOCFETCH_SEED_MAX_LINE_BYTES", "4096")
    assert _max_line_bytes(None) == 4096
    assert _max_line_bytes(2048) == 2048
    with pytest.raises(ConfigError, match="at least 1024"):
        _max_line_bytes(10)
    monkeypatch.setenv("DOCFETCH_SEED_MAX_LINE_BYTES", "10")
    with pytest.raises(ConfigError, match="at least 1024"):
        _max_line_bytes(None)
