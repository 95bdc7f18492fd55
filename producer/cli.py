"""docfetch-producer: seed jobs and operate docfetch (topics, seed, status, inspect, requeue)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from producer import audit, export, inspection, requeue, seed, status, topicscmd
from producer.errors import ProducerError
from schemas import SchemaError

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]

# Each command module exposes `register(subparsers)`, which adds its parser and sets `handler`.
COMMANDS = (topicscmd, seed, status, inspection, requeue, export, audit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docfetch-producer", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


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
