"""Seeding progress on stderr: a rich bar with rate and ETA on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from producer.commands.seedloop import Tally

PLAIN_INTERVAL_S = 10.0  # a log line every 10 s is readable in CI and container logs


class SeedProgress:
    """`with SeedProgress(source, stream=sys.stderr, quiet=False) as p: ... p.update(tally)`."""

    def __init__(
        self, *, size_bytes: int | None, stream: IO[str], quiet: bool, every_s: float = PLAIN_INTERVAL_S
    ) -> None:
        self._size_bytes, self._stream, self._quiet, self._every_s = size_bytes, stream, quiet, every_s
        self._started = time.monotonic()
        self._last_plain = self._started
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self.update: Callable[[Tally], None] = self._nothing if quiet else self._plain

    def __enter__(self) -> SeedProgress:
        if not self._quiet and self._stream.isatty():
            self._bar = _rich_bar(self._stream)
            self._bar.start()
            self._task = self._bar.add_task("seeding", total=self._size_bytes, lines="0")
            self.update = self._rich
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def _nothing(self, tally: Tally) -> None:
        return None

    def _rich(self, tally: Tally) -> None:
        assert self._bar is not None and self._task is not None
        lines = f"{tally.read} lines, {tally.seeded} seeded, {tally.rejected} rejected"
        self._bar.update(self._task, completed=tally.position_bytes, lines=lines)

    def _plain(self, tally: Tally) -> None:
        now = time.monotonic()
        if now - self._last_plain < self._every_s:
            return
        self._last_plain = now
        rate = tally.read / max(now - self._started, 1e-9)
        print(
            f"progress: line {tally.read} seeded={tally.seeded} rejected={tally.rejected} "
            f"rate={rate:.0f} lines/s{self._percent(tally)}",
            file=self._stream,
            flush=True,
        )

    def _percent(self, tally: Tally) -> str:
        size = self._size_bytes
        return f" {100 * tally.position_bytes / size:.1f}%" if size else ""


def _rich_bar(stream: IO[str]) -> Progress:
    return Progress(
        TextColumn("[bold]seeding"),
        BarColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[lines]}"),
        console=Console(file=stream),
        transient=False,
    )
