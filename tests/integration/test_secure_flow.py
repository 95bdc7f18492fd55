"""The whole docfetch flow over SASL_SSL (SCRAM) against scripts/kafka-local --secure.

The cluster (tests/kafka_harness/secure.py) runs in a private run dir with its own generated CA; every
command gets only the secure listener's address, so nothing here can fall back to plaintext. The wrong
password and untrusted certificate cases are in test_cli_errors.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

from schemas import KafkaSettings
from tests.faults.harness.process import ProcessPool
from tests.integration.consumer_harness import options, origin
from tests.kafka_harness.secure import SecureCluster, run_cli

JOBS = 40
RUN_TIMEOUT_S = 180.0  # two consumers, 40 jobs; only catches a hang


def producer(settings: KafkaSettings, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m producer ARGV` with the security settings in the environment only."""
    return run_cli("producer", *argv, env=env, settings=settings)


async def test_whole_flow_over_sasl_ssl(secure_cluster: SecureCluster, tmp_path: Path) -> None:
    settings, env = secure_cluster.settings(), secure_cluster.env
    outputs: list[str] = []

    def ok(*argv: str) -> str:
        done = producer(settings, env, *argv)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0, f"{argv}: {done.stderr}"
        return done.stdout

    assert "created" in ok("topics", "ensure", "--partitions", "2")
    store = tmp_path / "store"
    async with origin() as farm:
        urls = tmp_path / "urls.txt"
        urls.write_text("".join(f"W{i},{farm.url(f'/pdf/s{i}')}\n" for i in range(JOBS)))
        ok("seed", str(urls), "--format", "urls", "--quiet")
        # Right after the first seed on a fresh cluster the group has no coordinator yet: retried.
        before = json.loads(ok("status", "--json"))
        assert before["jobs"] == JOBS and before["pending"] == JOBS
        async with ProcessPool(tmp_path / "logs") as pool:
            base = options(settings, store, exit_when_idle_s=4)
            opts = dataclasses.replace(base, env={**base.env, **env})
            procs = [pool.consumer(f"c{n}", opts) for n in range(2)]
            codes = [await p.wait(RUN_TIMEOUT_S) for p in procs]
            assert codes == [0, 0], [p.tail() for p in procs]
            outputs += [p.tail() for p in procs]
        assert farm.downloads() == JOBS
    after = json.loads(ok("status", "--json"))
    assert after["states"] == {"FINALIZED": JOBS}, after
    audit = json.loads(ok("audit", "--store", str(store), "--settled", "--json"))
    assert audit["ok"] is True and audit["jobs"]["terminal"] == JOBS, audit
    check_export(ok("export", "--store", str(store), "--json"), store)
    assert not any(secure_cluster.password in text for text in outputs), "the SASL password was printed"


def check_export(jsonl: str, store: Path) -> None:
    """One FINALIZED row per work id; each row's store path is a file inside the store whose bytes hash
    to the row's sha256 (and have its size)."""
    rows = [json.loads(line) for line in jsonl.splitlines()]
    assert sorted(row["work_id"] for row in rows) == sorted(f"W{i}" for i in range(JOBS))
    root = store.resolve()
    for row in rows:
        assert row["state"] == "FINALIZED" and row["status"] == "success", row
        path = Path(row["store_path"]).resolve()
        assert path.is_relative_to(root) and path.is_file(), row
        body = path.read_bytes()
        assert hashlib.sha256(body).hexdigest() == row["sha256"] and len(body) == row["size"], row


def test_plain_and_scram_256_authenticate_too(secure_cluster: SecureCluster) -> None:
    settings = secure_cluster.settings()
    for mechanism in ("PLAIN", "SCRAM-SHA-256"):
        env = {**secure_cluster.env, "DOCFETCH_SASL_MECHANISM": mechanism}
        done = producer(settings, env, "topics", "ensure", "--partitions", "1")
        assert done.returncode == 0, f"{mechanism}: {done.stderr}"
