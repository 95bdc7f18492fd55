"""A private SASL_SSL cluster for a test session: scripts/kafka-local start --secure in its own run dir.

Registered as a pytest plugin (tests/conftest.py) so the secure-flow and CLI-error tests share one
cluster. Clients get only the secure listener's address and the DOCFETCH_* settings to reach it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas import KafkaSettings
from tests.kafka_harness.broker import KAFKA_LOCAL, REPO


@dataclasses.dataclass(frozen=True)
class SecureCluster:
    bootstrap: str  # the SASL_SSL listener(s)
    controller: str  # a KRaft controller listener (not a broker port; for the error tests)
    env: dict[str, str]  # DOCFETCH_* security settings a client needs (the password as a file)
    password: str

    def settings(self) -> KafkaSettings:
        """Settings with fresh topic and group names on this cluster."""
        name = uuid.uuid4().hex[:8]
        security = {k.removeprefix("DOCFETCH_").lower(): v for k, v in self.env.items()}
        return KafkaSettings(
            bootstrap_servers=self.bootstrap,
            jobs_topic=f"sec-jobs-{name}",
            state_topic=f"sec-state-{name}",
            dlq_topic=f"sec-dlq-{name}",
            group_id=f"sec-group-{name}",
            **security,  # type: ignore[arg-type]
        )


def _client_env(out: dict[str, str]) -> dict[str, str]:
    return {
        "DOCFETCH_SECURITY_PROTOCOL": "SASL_SSL",
        "DOCFETCH_SASL_MECHANISM": "SCRAM-SHA-512",
        "DOCFETCH_SASL_USERNAME": out["KAFKA_SASL_USERNAME"],
        "DOCFETCH_SASL_PASSWORD_FILE": out["KAFKA_SASL_PASSWORD_FILE"],
        "DOCFETCH_SSL_CA_FILE": out["KAFKA_SECURE_CA_FILE"],
        "DOCFETCH_SSL_CERT_FILE": out["KAFKA_SECURE_CLIENT_CERT_FILE"],
        "DOCFETCH_SSL_KEY_FILE": out["KAFKA_SECURE_CLIENT_KEY_FILE"],
        "DOCFETCH_SSL_KEY_PASSWORD_FILE": out["KAFKA_SECURE_CLIENT_KEY_PASSWORD_FILE"],
    }


@pytest.fixture(scope="session")
def secure_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    run_dir = tmp_path_factory.mktemp("kafka-secure") / "run"
    env = dict(os.environ, DOCFETCH_KAFKA_RUN_DIR=str(run_dir))
    started = subprocess.run(
        [str(KAFKA_LOCAL), "start", "--secure"], capture_output=True, text=True, env=env, check=False
    )
    try:
        assert started.returncode == 0, started.stderr
        out = dict(re.findall(r"^(KAFKA_[A-Z_]+)=(\S+)$", started.stdout, re.M))
        password = Path(out["KAFKA_SASL_PASSWORD_FILE"]).read_text().strip()
        assert password not in started.stdout + started.stderr
        meta = json.loads((run_dir / "cluster.json").read_text())
        controller = f"127.0.0.1:{meta['ports']['1'][1]}"
        yield SecureCluster(out["KAFKA_SECURE_BOOTSTRAP_SERVERS"], controller, _client_env(out), password)
    finally:
        subprocess.run([str(KAFKA_LOCAL), "stop"], capture_output=True, env=env, check=False)


CLI_TIMEOUT_S = 120  # one command on a fresh cluster (topic creation, the first group coordinator)


def run_cli(
    module: str, *argv: str, env: dict[str, str] | None = None, settings: KafkaSettings | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE ARGV` (+ the topic/group flags of `settings`) with no DOCFETCH_* setting from
    this process's environment: only `env`'s."""
    flags = []
    if settings is not None:
        flags = ["--bootstrap", settings.bootstrap_servers, "--jobs-topic", settings.jobs_topic,
                 "--state-topic", settings.state_topic, "--dlq-topic", settings.dlq_topic,
                 "--group", settings.group_id]  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DOCFETCH_")}
    return subprocess.run(
        [sys.executable, "-m", module, *argv, *flags],
        capture_output=True, text=True, env=clean | (env or {}), cwd=REPO, timeout=CLI_TIMEOUT_S,
        check=False,
    )  # fmt: skip
