"""docfetch-producer: seed jobs and operate docfetch."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from producer.commands import audit, export, hosts, inspection, requeue, seed, status, topics
from producer.errors import ProducerError
from schemas import SchemaError
from schemas.environment import check_environment
from schemas.kafka import expected_error
from schemas.version import package_version

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]

# Each command module exposes `register(subparsers)`, which adds its parser and sets `handler`.
COMMANDS = (topics, seed, status, inspection, requeue, export, hosts, audit)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docfetch-producer",
        description=__doc__,
        epilog="Exit codes: 0 ok, 1 failed (audit violation, unsent jobs, unknown job), 2 bad setting or "
        "input, 3 topics missing or wrong, 4 cluster unreachable, 5 cluster does not answer as a broker, "
        "6 authentication failed, 7 TLS failed, 130 interrupted (docs/OPERATIONS.md).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    # The description names every command (`COMMANDS` is the only list), so --help never forgets one.
    parser.description = f"{__doc__.strip()} Commands: {', '.join(sub.choices)}."
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    # Our own notes (e.g. which default bootstrap is tried) at INFO; libraries only from WARNING.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="docfetch-producer: %(message)s")
    logging.getLogger("docfetch").setLevel(logging.INFO)
    try:
        check_environment()
        return asyncio.run(handler(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        error = expected_error(exc, (ProducerError, SchemaError))
        if error is None:
            raise
        if getattr(args, "debug", False):
            traceback.print_exception(exc)
        print(f"docfetch-producer: error: {' '.join(str(error).split())}", file=sys.stderr)
        return int(getattr(error, "exit_code", 1))


if __name__ == "__main__":
    sys.exit(main())
