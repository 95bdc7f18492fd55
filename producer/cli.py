"""docfetch-producer: seed jobs and operate docfetch (topics, status, inspect, requeue)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from producer import topics
from producer.errors import ProducerError
from producer.settings import add_kafka_flags, kafka_settings

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


async def run_topics_ensure(args: argparse.Namespace) -> int:
    settings = kafka_settings(args)
    created = await topics.ensure(settings, partitions=args.partitions, replication=args.replication)
    names = (settings.jobs_topic, settings.state_topic, settings.dlq_topic)
    for name in names:
        print(f"{name}: {'created' if name in created else 'exists, verified'}")
    return 0


def _add_topics(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("topics", help="create and verify the docfetch topics")
    tsub = parser.add_subparsers(dest="topics_cmd", required=True)
    ensure = tsub.add_parser(
        "ensure",
        help="create missing topics (jobs, compacted state, DLQ) and verify co-partitioning",
        description="Idempotent. Refuses when existing topics have different partition counts "
        "or the state topic is not compacted.",
    )
    ensure.add_argument("--partitions", type=int, default=12, help="partitions for new topics (12)")
    ensure.add_argument("--replication", type=int, default=1, help="replication factor for new topics (1)")
    add_kafka_flags(ensure)
    ensure.set_defaults(handler=run_topics_ensure)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docfetch-producer", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    _add_topics(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return asyncio.run(handler(args))
    except ProducerError as exc:
        print(f"docfetch-producer: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
