"""docfetch-producer: seed jobs and operate docfetch."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from producer import audit, export, hosts, inspection, requeue, seed, status, topicscmd
from producer.errors import ProducerError
from schemas import SchemaError

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]

# Each command module exposes `register(subparsers)`, which adds its parser and sets `handler`.
COMMANDS = (topicscmd, seed, status, inspection, requeue, export, hosts, audit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docfetch-producer", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    # The description names every command (`COMMANDS` is the only list), so --help never forgets one.
    parser.description = f"{__doc__.strip()} Commands: {', '.join(sub.choices)}."
    return parser


def package_version() -> str:
    """The installed docfetch distribution's version (pyproject.toml), or "unknown" outside one."""
    try:
        return importlib.metadata.version("docfetch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return asyncio.run(handler(args))
    except (ProducerError, SchemaError) as exc:
        print(f"docfetch-producer: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
