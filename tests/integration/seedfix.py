"""Test helpers for seeding: run the CLI in-process or as a subprocess, count what reached the topic."""

from __future__ import annotations

import subprocess
import sys

from producer.cli import build_parser
from producer.statereader import read_jobs
from schemas import JobMessage, KafkaSettings


def kafka_args(settings: KafkaSettings) -> list[str]:
    return [
        "--bootstrap", settings.bootstrap_servers,
        "--jobs-topic", settings.jobs_topic,
        "--state-topic", settings.state_topic,
        "--dlq-topic", settings.dlq_topic,
        "--group", settings.group_id,
    ]  # fmt: skip


async def run_cli(settings: KafkaSettings, *argv: str) -> int:
    """Run one docfetch-producer command in this process (output goes to capsys)."""
    args = build_parser().parse_args([*argv, *kafka_args(settings)])
    code: int = await args.handler(args)
    return code


def cli_process(settings: KafkaSettings, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "producer", *argv, *kafka_args(settings)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def topic_jobs(settings: KafkaSettings) -> tuple[dict[str, JobMessage], int]:
    """(last message per job id, number of messages) on the jobs topic."""
    snapshot = await read_jobs(settings)
    return snapshot.jobs, sum(len(v) for v in snapshot.offsets.values())


def summary(stdout: str) -> dict[str, int]:
    line = next(x for x in stdout.splitlines() if x.startswith("summary: "))
    return {k: int(v) for k, v in (kv.split("=") for kv in line.removeprefix("summary: ").split())}
