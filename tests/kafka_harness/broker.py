"""Start (or find) the one Kafka broker a test session uses.

Order: KAFKA_BOOTSTRAP_SERVERS set -> that cluster; a reachable Docker engine -> testcontainers
(apache/kafka, the same version as scripts/kafka-local); else scripts/kafka-local on loopback.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KAFKA_LOCAL = REPO / "scripts" / "kafka-local"


def kafka_version() -> str:
    text = KAFKA_LOCAL.read_text()
    match = re.search(r'^DEFAULT_VERSION = "([^"]+)"', text, re.M)
    assert match, "scripts/kafka-local lost its DEFAULT_VERSION"
    return os.environ.get("DOCFETCH_KAFKA_VERSION", match.group(1))


@dataclass
class Broker:
    bootstrap: str
    kind: str  # "external" | "docker" | "kafka-local"
    stop: Callable[[], None] = field(default=lambda: None)


def _docker_reachable() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means "no usable engine"
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_docker() -> Broker:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    port = _free_port()
    container = (
        DockerContainer(f"apache/kafka:{kafka_version()}")
        .with_bind_ports(9092, port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    )
    container.start()
    wait_for_logs(container, "Kafka Server started", timeout=120)
    return Broker(f"127.0.0.1:{port}", "docker", container.stop)


def _start_local() -> Broker:
    was_running = subprocess.run([KAFKA_LOCAL, "status"], capture_output=True, check=False).returncode == 0
    out = subprocess.run([KAFKA_LOCAL, "start"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"^KAFKA_BOOTSTRAP_SERVERS=(\S+)$", out, re.M)
    assert match, f"kafka-local printed no bootstrap line:\n{out}"

    def stop() -> None:
        if not was_running:
            subprocess.run([KAFKA_LOCAL, "stop"], capture_output=True, check=False)

    return Broker(match.group(1), "kafka-local", stop)


def start_broker() -> Broker:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        return Broker(external, "external")
    if os.environ.get("DOCFETCH_TEST_NO_DOCKER") != "1" and _docker_reachable():
        return _start_docker()
    return _start_local()
