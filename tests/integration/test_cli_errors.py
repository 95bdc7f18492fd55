"""Every expected failure of the CLIs is one line on stderr saying what to fix, with its own exit code
(docs/OPERATIONS.md, "Exit codes"), and no traceback unless --debug.

Each case runs the real CLI as a subprocess against real sockets: closed ports, a listener that never
answers, the KRaft controller port and the SASL_SSL listener of the private secure cluster, a network
namespace without DNS. Nothing leaves loopback.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from producer.commands import topics
from schemas import KafkaSettings
from schemas.errors import (
    EXIT_AUTHENTICATION,
    EXIT_FAILED,
    EXIT_LOCAL_RESOURCE,
    EXIT_NO_ANSWER,
    EXIT_SETTINGS,
    EXIT_TLS,
    EXIT_TOPOLOGY,
    EXIT_UNREACHABLE,
)
from tests.conftest import MakeTopics
from tests.kafka_harness.broker import REPO
from tests.kafka_harness.secure import SecureCluster, run_cli

TIMEOUT_S = 3.0  # --connect-timeout-s of the cases that wait; a loopback answer takes milliseconds
# How long past --connect-timeout-s a command may take to exit: interpreter start-up and imports on a
# busy 2-core machine. Far below aiokafka's own 40 s request timeout, which the old code waited out.
EXIT_SLACK_S = 20.0


# The consumer's own lifecycle log lines (timestamp, INFO) may precede the error; nothing else may.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO event=")


def one_line(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """The command exited `code` with exactly one stderr line (besides INFO log lines) containing every
    needle; that line."""
    lines = [line for line in done.stderr.strip().splitlines() if not LOG_LINE.match(line)]
    assert done.returncode == code, done.stderr
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def test_nothing_listening() -> None:
    done = run_cli("producer", "status", "--bootstrap", f"127.0.0.1:{closed_port()}")
    one_line(done, EXIT_UNREACHABLE, "nothing listening at 127.0.0.1:", "--bootstrap")


def test_nothing_listening_consumer_too(tmp_path: Path) -> None:
    done = run_cli(
        "consumer", "run", "--store", str(tmp_path), "--bootstrap", f"127.0.0.1:{closed_port()}",
        env={"DOCFETCH_ALLOW_PRIVATE_HOSTS": "true"},
    )  # fmt: skip
    one_line(done, EXIT_UNREACHABLE, "nothing listening at 127.0.0.1:")


def test_debug_prints_the_traceback_too() -> None:
    done = run_cli("producer", "status", "--debug", "--bootstrap", f"127.0.0.1:{closed_port()}")
    assert done.returncode == EXIT_UNREACHABLE
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("docfetch-producer: error: nothing listening")


def test_bad_port_in_bootstrap() -> None:
    done = run_cli("producer", "status", "--bootstrap", "127.0.0.1:abc")
    one_line(done, EXIT_SETTINGS, "bad bootstrap address '127.0.0.1:abc'", "DOCFETCH_BOOTSTRAP_SERVERS")


def test_a_listener_that_never_answers_fails_within_the_timeout(silent_listener: int) -> None:
    started = time.monotonic()
    done = run_cli(
        "producer", "topics", "ensure", "--bootstrap", f"127.0.0.1:{silent_listener}",
        "--connect-timeout-s", str(TIMEOUT_S),
    )  # fmt: skip
    elapsed = time.monotonic() - started
    one_line(done, EXIT_NO_ANSWER, f"no answer from 127.0.0.1:{silent_listener} within 3 s")
    assert elapsed < TIMEOUT_S + EXIT_SLACK_S


def test_connect_timeout_is_a_setting_too(silent_listener: int) -> None:
    done = run_cli(
        "producer", "status", "--bootstrap", f"127.0.0.1:{silent_listener}",
        env={"DOCFETCH_CONNECT_TIMEOUT_S": "2.5"},
    )  # fmt: skip
    one_line(done, EXIT_NO_ANSWER, "within 2.5 s")


def test_controller_port_instead_of_the_brokers(secure_cluster: SecureCluster) -> None:
    done = run_cli("producer", "status", "--bootstrap", secure_cluster.controller)
    one_line(done, EXIT_NO_ANSWER, "not a broker listener (a KRaft controller port?)")


def test_plaintext_client_on_a_tls_listener(secure_cluster: SecureCluster) -> None:
    done = run_cli("producer", "status", "--bootstrap", secure_cluster.bootstrap)
    one_line(done, EXIT_NO_ANSWER, "does the listener use security_protocol PLAINTEXT?")


def test_wrong_password(secure_cluster: SecureCluster, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    env = {**secure_cluster.env, "DOCFETCH_SASL_PASSWORD_FILE": str(wrong)}
    done = run_cli("producer", "status", env=env, settings=secure_cluster.settings())
    one_line(done, EXIT_AUTHENTICATION, "refused SASL SCRAM-SHA-512 authentication as 'docfetch'")
    assert "not-the-password" not in done.stderr


def test_untrusted_certificate(secure_cluster: SecureCluster) -> None:
    env = {k: v for k, v in secure_cluster.env.items() if not k.startswith("DOCFETCH_SSL_")}  # system CAs
    done = run_cli("producer", "topics", "ensure", env=env, settings=secure_cluster.settings())
    one_line(done, EXIT_TLS, "is not trusted", "DOCFETCH_SSL_CA_FILE")


def test_sasl_without_credentials_is_a_bad_setting() -> None:
    done = run_cli("producer", "status", env={"DOCFETCH_SECURITY_PROTOCOL": "SASL_SSL"})
    one_line(done, EXIT_SETTINGS, "needs DOCFETCH_SASL_MECHANISM, DOCFETCH_SASL_USERNAME")


def test_missing_ca_file_is_a_bad_setting() -> None:
    env = {"DOCFETCH_SECURITY_PROTOCOL": "SSL", "DOCFETCH_SSL_CA_FILE": "/nonexistent/ca.pem"}
    done = run_cli("producer", "status", "--bootstrap", f"127.0.0.1:{closed_port()}", env=env)
    one_line(done, EXIT_SETTINGS, "cannot load the TLS files (/nonexistent/ca.pem)")


def test_bad_consumer_setting(tmp_path: Path) -> None:
    env = {"DOCFETCH_CONCURRENCY": "many", "DOCFETCH_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"}
    done = run_cli("consumer", "run", "--store", str(tmp_path), env=env)
    one_line(done, EXIT_SETTINGS, "concurrency")


def test_http2_on_the_aiohttp_transport_is_refused(tmp_path: Path) -> None:
    env = {"DOCFETCH_HTTP2": "true", "DOCFETCH_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"}
    done = run_cli("consumer", "run", "--store", str(tmp_path), env=env)
    one_line(done, EXIT_SETTINGS, "DOCFETCH_HTTP2=true needs DOCFETCH_HTTP_TRANSPORT=httpcore")


@pytest.mark.parametrize("module", ["consumer", "producer"])
def test_mistyped_setting_refuses_to_start(module: str, tmp_path: Path) -> None:
    env = {"DOCFETCH_CONCURENCY": "3", "DOCFETCH_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"}
    argv = ["run", "--store", str(tmp_path)] if module == "consumer" else ["status"]
    line = one_line(run_cli(module, *argv, env=env), EXIT_SETTINGS)
    assert line == (
        f"docfetch-{module}: error: unknown setting DOCFETCH_CONCURENCY (did you mean "
        "DOCFETCH_CONCURRENCY?): docfetch reads no such variable (docs/OPERATIONS.md, Settings)"
    )


def test_missing_host_overrides_file(tmp_path: Path) -> None:
    env = {
        "DOCFETCH_HOST_OVERRIDES_PATH": str(tmp_path / "nope.json"),
        "DOCFETCH_ALLOW_PRIVATE_HOSTS": "true",
        "DOCFETCH_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",  # never reached: the file is read first
    }
    done = run_cli("consumer", "run", "--store", str(tmp_path / "store"), env=env)
    one_line(done, EXIT_SETTINGS, f"cannot read DOCFETCH_HOST_OVERRIDES_PATH {tmp_path / 'nope.json'}")


def test_missing_topics(kafka_settings: KafkaSettings) -> None:
    done = run_cli("producer", "status", settings=kafka_settings)
    one_line(done, EXIT_TOPOLOGY, "does not exist", "topics ensure")


async def test_topology_not_co_partitioned(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=2)
    other = await make_topics_named(settings, partitions=3)
    env = {"DOCFETCH_ALLOW_PRIVATE_HOSTS": "true"}
    done = run_cli("consumer", "run", "--store", str(tmp_path), env=env, settings=other)
    one_line(done, EXIT_TOPOLOGY, "partitions but jobs topic")


async def make_topics_named(settings: KafkaSettings, *, partitions: int) -> KafkaSettings:
    """A second state topic with another partition count, paired with `settings`' jobs topic."""
    suffixed = {f: getattr(settings, f) + "-other" for f in ("jobs_topic", "state_topic", "dlq_topic")}
    lonely = settings.model_copy(update=suffixed)
    await topics.ensure(lonely, partitions=partitions, replication=1)
    return settings.model_copy(update={"state_topic": lonely.state_topic})


async def test_metrics_port_in_use(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=1)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = {"DOCFETCH_ALLOW_PRIVATE_HOSTS": "true"}
        argv = ("run", "--store", str(tmp_path), "--metrics-port", str(port))
        done = run_cli("consumer", *argv, env=env, settings=settings)
    one_line(done, EXIT_LOCAL_RESOURCE, f"cannot serve metrics on port {port}", "--metrics-port")


def test_audit_cannot_reach_is_not_a_violation(tmp_path: Path) -> None:
    done = run_cli("producer", "audit", "--store", str(tmp_path), "--bootstrap", f"127.0.0.1:{closed_port()}")
    one_line(done, EXIT_UNREACHABLE, "nothing listening")
    assert EXIT_UNREACHABLE != EXIT_FAILED  # audit's "violations found"


def in_isolated_netns(*argv: str, resolv_conf: Path) -> list[str]:
    """argv run in a new network namespace with only `lo` up and a resolver at 127.0.0.1:53 (nothing
    listens there), so no lookup or connection can leave this machine."""
    script = 'ip link set lo up && mount --bind "$0" /etc/resolv.conf && exec "$@"'
    return ["unshare", "--net", "--mount", "sh", "-c", script, str(resolv_conf), *argv]


def test_unresolvable_host(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    done = run_cli_in_netns(resolv, "status", "--bootstrap", "no-such-broker.invalid:9092")
    one_line(done, EXIT_UNREACHABLE, "cannot resolve host 'no-such-broker.invalid'")


def test_default_bootstrap_is_named(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")
    done = run_cli_in_netns(resolv, "status")  # no --bootstrap, no DOCFETCH_BOOTSTRAP_SERVERS
    lines = done.stderr.strip().splitlines()
    assert done.returncode == EXIT_UNREACHABLE, done.stderr
    assert len(lines) == 2, done.stderr
    assert (
        lines[0]
        == "docfetch-producer: no --bootstrap or DOCFETCH_BOOTSTRAP_SERVERS given: trying 127.0.0.1:9092"
    )
    assert "nothing listening at 127.0.0.1:9092" in lines[1]


def run_cli_in_netns(resolv: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    assert shutil.which("unshare") and shutil.which("ip"), "needs unshare (util-linux) and ip (iproute2)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DOCFETCH_")}
    cmd = in_isolated_netns(sys.executable, "-m", "producer", *argv, resolv_conf=resolv)
    return subprocess.run(cmd, capture_output=True, text=True, env=clean, cwd=REPO, timeout=120, check=False)
