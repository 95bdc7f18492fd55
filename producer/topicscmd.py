"""`docfetch-producer topics ensure`: create and verify the docfetch topics."""

from __future__ import annotations

import argparse

from producer import topics
from schemas.settings import add_kafka_flags, kafka_settings


async def run_ensure(args: argparse.Namespace) -> int:
    settings = kafka_settings(args)
    created = await topics.ensure(settings, partitions=args.partitions, replication=args.replication)
    names = (settings.jobs_topic, settings.state_topic, settings.dlq_topic)
    for name in names:
        print(f"{name}: {'created' if name in created else 'exists, verified'}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    ensure.set_defaults(handler=run_ensure)
