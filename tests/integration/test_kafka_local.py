"""scripts/kafka-local: start/stop leaves nothing behind; a 3-node cluster survives kill -9 of a node.

Each test runs its own cluster in a private run dir (DOCFETCH_KAFKA_RUN_DIR), sharing the jar cache.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas import KafkaSettings
from tests.kafka_harness.broker import KAFKA_LOCAL


def _cli(run_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DOCFETCH_KAFKA_RUN_DIR=str(run_dir))
    return subprocess.run([str(KAFKA_LOCAL), *args], capture_output=True, text=True, env=env, check=False)


def _pids(run_dir: Path) -> list[int]:
    return [int(p.read_text()) for p in run_dir.glob("node-*/pid")]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "kafka-run"
    yield path
    _cli(path, "stop")


def _bootstrap(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    match = re.search(r"^KAFKA_BOOTSTRAP_SERVERS=(\S+)$", result.stdout, re.M)
    assert match, result.stdout
    return match.group(1)


def test_start_is_idempotent_and_stop_leaves_no_process(run_dir: Path) -> None:
    started = _cli(run_dir, "start")
    first = _bootstrap(started)
    assert started.stdout.strip().count("\n") == 0, "broker output must go to its log file"
    assert (run_dir / "node-1" / "broker.log").stat().st_size > 0
    assert _bootstrap(_cli(run_dir, "start")) == first  # reused, not restarted
    pids = _pids(run_dir)
    assert len(pids) == 1 and all(_alive(p) for p in pids)
    assert _cli(run_dir, "status").returncode == 0
    assert _cli(run_dir, "stop").returncode == 0
    assert not any(_alive(p) for p in pids)
    assert _cli(run_dir, "status").returncode == 1


async def _produce_consume(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(
        **KafkaSettings(bootstrap_servers=bootstrap).client_options(), acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str, expect: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, **KafkaSettings(bootstrap_servers=bootstrap).client_options(), auto_offset_reset="earliest"
    )
    await consumer.start()
    got: list[bytes] = []
    try:
        async with asyncio.timeout(60):
            while len(got) < expect:
                batch = await consumer.getmany(timeout_ms=500)
                got += [m.value for msgs in batch.values() for m in msgs if m.value is not None]
    finally:
        await consumer.stop()
    return got


async def _leader(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(**KafkaSettings(bootstrap_servers=bootstrap).client_options())
    await admin.start()
    try:
        (meta,) = await admin.describe_topics([topic])
        return int(meta["partitions"][0]["leader"])
    finally:
        await admin.close()


async def test_three_nodes_survive_kill_9_of_the_leader(run_dir: Path) -> None:
    bootstrap = _bootstrap(await asyncio.to_thread(_cli, run_dir, "start", "--brokers", "3"))
    meta = json.loads((run_dir / "cluster.json").read_text())
    assert len(meta["ports"]) == 3
    admin = AIOKafkaAdminClient(**KafkaSettings(bootstrap_servers=bootstrap).client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic("survivor", 1, 3, topic_configs={"min.insync.replicas": "2"})])
    finally:
        await admin.close()
    await asyncio.sleep(1)
    await _produce_consume(bootstrap, "survivor", [b"before-%d" % i for i in range(20)])
    leader = await _leader(bootstrap, "survivor")
    killed = await asyncio.to_thread(_cli, run_dir, "kill", str(leader))
    assert killed.returncode == 0, killed.stderr
    await _produce_consume(bootstrap, "survivor", [b"after-%d" % i for i in range(20)])
    got = await _read_all(bootstrap, "survivor", 40)
    assert sorted(got) == sorted([b"before-%d" % i for i in range(20)] + [b"after-%d" % i for i in range(20)])
    restarted = await asyncio.to_thread(_cli, run_dir, "restart", str(leader))
    assert restarted.returncode == 0, restarted.stderr
