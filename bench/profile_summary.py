"""Summarise a py-spy `--format raw` profile (collapsed stacks): top functions by self and total %, and
the share of each part of the stack (HTTP, storage, Kafka, JSON/pydantic, logging, event loop).

    .venv/bin/python -m bench.profile_summary PROFILE.txt [--top 25] [--with-imports]

Samples inside the import machinery (start-up, before the first job) are left out unless --with-imports,
and so are samples with no Python frame.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# A sample belongs to the part of its innermost frame whose file matches one of these (in this order).
PARTS = (
    ("storage (consumer/storage.py, schemas/artifacts.py)", r"consumer/storage|schemas/artifacts"),
    (
        "HTTP stack (aiohttp, httpx, httpcore, h11, yarl, multidict, consumer/fetch)",
        r"aiohttp|httpx|httpcore|h11|yarl|multidict|consumer/fetch/",
    ),
    ("Kafka (aiokafka)", r"aiokafka|kafka/"),
    (
        "JSON / pydantic / records (schemas, consumer/records.py)",
        r"orjson|json|pydantic|schemas/|consumer/records",
    ),
    ("logging", r"logging|structlog|joblog"),
    ("event loop (asyncio itself)", r"asyncio/"),
    ("the consumer's own job path (the rest of consumer/)", r"consumer/"),
)
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


IMPORTING = "_find_and_load ("


def parse(path: Path, with_imports: bool = False) -> tuple[list[tuple[list[str], int]], int]:
    """(frames outermost first, sample count) per line of a collapsed-stack file; samples left out."""
    stacks, skipped = [], 0
    for line in path.read_text().split("\n"):  # not splitlines: frames may hold \x1c etc.
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        if not stack or (not with_imports and IMPORTING in stack):
            skipped += int(count)
            continue
        stacks.append((stack.split(";"), int(count)))
    return stacks, skipped


def function_of(frame: str) -> str:
    """`func (file:line)` -> `func (short file)`; the line is dropped so a function's lines add up."""
    match = FRAME.match(frame)
    if match is None:
        return frame
    file = match["file"]
    for marker in ("site-packages/", "/lib/python3", "/work/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['func']} ({file})"


def part_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        match = FRAME.match(frame)
        file = match["file"] if match else frame
        for label, pattern in PARTS:
            if re.search(pattern, file):
                return label
    return "other (stdlib outside asyncio, interpreter start-up)"


def summary(stacks: list[tuple[list[str], int]], top: int) -> str:
    total = sum(count for _, count in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    for frames, count in stacks:
        names = [function_of(f) for f in frames]
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
        parts[part_of(frames)] += count
    lines = [f"{total} samples", "", "| part (innermost frame that names one) | % of samples |", "|---|---|"]
    lines += [f"| {label} | {100 * n / total:.1f} |" for label, n in parts.most_common()]
    lines += ["", "| function (self) | self % | total % |", "|---|---|---|"]
    lines += [
        f"| `{name}` | {100 * n / total:.1f} | {100 * inclusive[name] / total:.1f} |"
        for name, n in own.most_common(top)
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--with-imports", action="store_true", help="keep samples inside imports")
    args = parser.parse_args()
    stacks, skipped = parse(args.profile, args.with_imports)
    print(
        f"({skipped} samples inside imports or without a Python frame left out)\n" if skipped else "", end=""
    )
    print(summary(stacks, args.top))


if __name__ == "__main__":
    main()
