"""A private 3-broker KRaft cluster for fault tests, driven through scripts/kafka-local.

It never touches the shared broker: its jars cache and run dir live under `cache_dir`
(default /tmp/faults-kafka, DOCFETCH_FAULTS_KAFKA_CACHE), seeded from the repo's .cache/kafka so the
jars are not fetched again. Node ids are kafka-local's (1..3) and equal the brokers' `node.id`, so
metadata answers (partition leader, group and transaction coordinators) name the node to kill.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from schemas import KafkaSettings
from tests.faults.harness.waiting import poll_until
from tests.kafka_harness.broker import KAFKA_LOCAL, REPO

SCRIPT_ENV = "DOCFETCH_FAULTS_KAFKA_LOCAL"  # a kafka-local with the proxied-listener option, until merged
DEFAULT_CACHE = Path(os.environ.get("DOCFETCH_FAULTS_KAFKA_CACHE", "/tmp/faults-kafka"))
# Three JVMs share two cores with other engineers' work: smaller heaps than kafka-local's default.
FAULTS_HEAP = "-Xms128m -Xmx512m"
SCRIPT_TIMEOUT_S = 180.0  # a start formats three nodes and waits for them (kafka-local's own limit is 120 s)
COORDINATOR_GROUP, COORDINATOR_TRANSACTION = 0, 1  # FindCoordinator key types
METADATA_POLL_S = 0.5
COORDINATOR_TIMEOUT_S = 30.0  # the first lookup creates __consumer_offsets / __transaction_state
FULL_ISR = 3  # replication factor of every topic on this cluster


@dataclass
class Cluster:
    """Start/stop/kill/restart nodes of a private cluster and ask it who leads what."""

    cache_dir: Path = DEFAULT_CACHE
    script: Path = field(default_factory=lambda: Path(os.environ.get(SCRIPT_ENV, KAFKA_LOCAL)))
    bootstrap: str = ""
    proxied_bootstrap: str = ""

    @property
    def run_dir(self) -> Path:
        return self.cache_dir / "kafka-run"

    @property
    def supports_proxy(self) -> bool:
        """Whether kafka-local can advertise a proxied client listener (the diff in docs/RELIABILITY.md)."""
        return "--proxied-listener" in self.script.read_text()

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DOCFETCH_KAFKA_CACHE": str(self.cache_dir),
            "DOCFETCH_KAFKA_RUN_DIR": str(self.run_dir),
            "DOCFETCH_KAFKA_HEAP": os.environ.get("DOCFETCH_FAULTS_KAFKA_HEAP", FAULTS_HEAP),
        }

    def _run(self, *args: str) -> str:
        result = subprocess.run(
            [str(self.script), *args], capture_output=True, text=True, env=self._env(),
            timeout=SCRIPT_TIMEOUT_S, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"kafka-local {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def _seed_jars(self) -> None:
        if not (self.cache_dir / "kafka").exists() and (REPO / ".cache" / "kafka").exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            shutil.copytree(REPO / ".cache" / "kafka", self.cache_dir / "kafka")

    def start(self, *, proxied: bool = False) -> str:
        """Start (or reuse) three nodes; return the direct bootstrap servers."""
        self._seed_jars()
        out = self._run("start", "--brokers", "3", *(["--proxied-listener"] if proxied else []))
        self.bootstrap = _value(out, "KAFKA_BOOTSTRAP_SERVERS")
        self.proxied_bootstrap = _value(out, "KAFKA_PROXIED_BOOTSTRAP_SERVERS") if proxied else ""
        return self.bootstrap

    def stop(self) -> None:
        self._run("stop")

    def kill(self, node: int) -> None:
        """kill -9 one node (returns once the process is gone)."""
        self._run("kill", str(node))

    def restart(self, node: int) -> None:
        """Start a killed node again; returns once it accepts connections."""
        self._run("restart", str(node))

    def proxy_routes(self) -> dict[int, tuple[int, int]]:
        """node -> (client listener port, advertised port a proxy must listen on)."""
        meta = json.loads((self.run_dir / "cluster.json").read_text())
        return {int(n): (p[0], p[1]) for n, p in meta.get("proxied", {}).items()}

    def broker_log(self, node: int) -> Path:
        return self.run_dir / f"node-{node}" / "broker.log"

    async def partitions(self, topic: str) -> dict[int, dict[str, Any]]:
        """Fresh metadata of `topic`: partition -> {"leader": node, "isr": [nodes], ...}."""
        async with _admin(self.bootstrap) as admin:
            (meta,) = await admin.describe_topics([topic])
        return {int(p["partition"]): p for p in meta["partitions"]}

    async def leader_of(self, topic: str, partition: int) -> int:
        """The node leading `topic`/`partition` now."""
        return int((await self.partitions(topic))[partition]["leader"])

    async def group_coordinator(self, group_id: str) -> int:
        return await self._coordinator(group_id, COORDINATOR_GROUP)

    async def transaction_coordinator(self, transactional_id: str) -> int:
        return await self._coordinator(transactional_id, COORDINATOR_TRANSACTION)

    async def _coordinator(self, key: str, key_type: int) -> int:
        """FindCoordinator, retried while the broker is still creating its internal topic or electing."""
        async with _admin(self.bootstrap) as admin:

            async def probe() -> int | None:
                try:
                    return int(await admin.find_coordinator(key, key_type))
                except KafkaError as exc:
                    if not exc.retriable:
                        raise
                    return None

            what = f"coordinator of {key}"
            node: int = await poll_until(
                probe, timeout_s=COORDINATOR_TIMEOUT_S, interval_s=METADATA_POLL_S, what=what
            )
        return node

    async def wait_full_isr(self, topic: str, *, timeout_s: float = 60.0) -> None:
        """Wait until every partition of `topic` has all three replicas in sync again (after a restart)."""

        async def full() -> bool:
            return all(len(p["isr"]) >= FULL_ISR for p in (await self.partitions(topic)).values())

        await poll_until(full, timeout_s=timeout_s, interval_s=METADATA_POLL_S, what=f"full ISR on {topic}")


class _admin:
    """`async with _admin(bootstrap) as admin`: a started admin client, closed on exit."""

    def __init__(self, bootstrap: str) -> None:
        self.client = AIOKafkaAdminClient(
            **KafkaSettings(bootstrap_servers=bootstrap).client_options(), request_timeout_ms=10_000
        )

    async def __aenter__(self) -> AIOKafkaAdminClient:
        await self.client.start()
        return self.client

    async def __aexit__(self, *_exc: object) -> None:
        await self.client.close()


def _value(output: str, name: str) -> str:
    match = re.search(rf"^{name}=(\S+)$", output, re.M)
    if match is None:
        raise RuntimeError(f"kafka-local printed no {name}:\n{output}")
    return match.group(1)
