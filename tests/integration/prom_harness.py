"""A real Prometheus server for tests: scrapes given targets every second, answers PromQL over HTTP.

    with prometheus_server(["127.0.0.1:9100"], tmp_dir=tmp_path) as prom:
        prom.wait_for("sum(docfetch_jobs_total)", lambda r: r and float(r[0]["value"][1]) == 10, 30)

Runs the `prometheus` binary (on PATH, else where scripts/ensure-prometheus unpacked it) on a free
loopback port with a generated config and a data dir inside `tmp_dir`, and always stops it (SIGTERM,
then SIGKILL) when the block ends.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
# Where scripts/ensure-prometheus unpacks Debian's package when the tools are not on PATH.
UNPACKED_BIN = REPO / ".cache" / "prometheus" / "usr" / "bin"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.25
# Scrape and evaluate every second so tests see a change within a few seconds.
CONFIG_TEMPLATE = """
global:
  scrape_interval: {interval}
  scrape_timeout: {interval}
  evaluation_interval: {interval}
rule_files: {rule_files}
scrape_configs:
  - job_name: {job}
    static_configs:
      - targets: {targets}
"""

Result = list[dict[str, Any]]


class PromQueryError(AssertionError):
    """Prometheus answered a query with an error (bad PromQL, timeout)."""


def prometheus_tool(name: str) -> str:
    """The path of `prometheus` or `promtool`: on PATH, else unpacked by scripts/ensure-prometheus."""
    found = shutil.which(name) or shutil.which(name, path=str(UNPACKED_BIN))
    if found is None:
        raise RuntimeError(f"{name} is missing: run scripts/ensure-prometheus (make test does)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(
    directory: Path, targets: Sequence[str], rule_files: Sequence[Path], job: str, interval_s: float
) -> Path:
    """The generated prometheus.yml; rule files are copied beside it so the run cannot change them."""
    copies = []
    for index, rules in enumerate(rule_files):
        copies.append(str(shutil.copy(rules, directory / f"rules-{index}.yml")))
    path = directory / "prometheus.yml"
    path.write_text(
        CONFIG_TEMPLATE.format(
            interval=f"{int(interval_s * 1000)}ms",
            rule_files=json.dumps(copies),
            job=json.dumps(job),
            targets=json.dumps(list(targets)),
        )
    )
    return path


@dataclass
class PromServer:
    """A running Prometheus: its URL and a small client for the HTTP API."""

    url: str
    client: httpx.Client
    log_path: Path
    pid: int

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the `data` of a success, PromQueryError with Prometheus' words otherwise."""
        response = self.client.get(f"{self.url}/api/v1/{path}", params=params)
        body = response.json()
        if body.get("status") != "success":
            raise PromQueryError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> Result:
        """Instant query; the result vector (or [type, value] list for scalars)."""
        data = self.api("query", query=expr)
        result: Result = data["result"]
        return result

    def wait_for(self, expr: str, predicate: Callable[[Result], bool], timeout_s: float) -> Result:
        """Poll `expr` until `predicate(result)` holds; AssertionError with the last result on timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.query(expr)
            if predicate(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"after {timeout_s}s, {expr!r} gives {result!r}")
            time.sleep(POLL_INTERVAL_S)

    def targets_up(self) -> dict[str, str]:
        """scrape URL -> health ('up', 'down', 'unknown') of every active target."""
        active = self.api("targets")["activeTargets"]
        return {t["scrapeUrl"]: t["health"] for t in active}

    def rule_health(self, timeout_s: float = 20.0) -> dict[str, str]:
        """Rule name -> health ('ok' or 'err'), once every loaded rule has been evaluated at least once."""
        deadline = time.monotonic() + timeout_s
        while True:
            rules = [r for g in self.api("rules")["groups"] for r in g["rules"]]
            if all(r["health"] != "unknown" for r in rules) or time.monotonic() > deadline:
                return {r["name"]: r["health"] for r in rules}
            time.sleep(POLL_INTERVAL_S)

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts of the loaded rule files."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts


def wait_ready(server: PromServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"prometheus exited {process.returncode}: {server.log_path.read_text()[-2000:]}"
            )
        try:
            if server.client.get(f"{server.url}/-/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(POLL_INTERVAL_S)
    raise RuntimeError(
        f"prometheus not ready after {READY_TIMEOUT_S}s: {server.log_path.read_text()[-2000:]}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited in STOP_TIMEOUT_S; always reaped."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def prometheus_server(
    targets: Sequence[str],
    *,
    tmp_dir: Path,
    rule_files: Sequence[Path] = (),
    job: str = "docfetch-consumer",
    scrape_interval_s: float = 1.0,
) -> Iterator[PromServer]:
    """Start Prometheus scraping `targets` (host:port) as job `job`; yield it ready; stop it on exit."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    config = write_config(tmp_dir, targets, rule_files, job, scrape_interval_s)
    with prometheus_from_config(config, tmp_dir=tmp_dir) as server:
        yield server


@contextmanager
def prometheus_from_config(config: Path, *, tmp_dir: Path) -> Iterator[PromServer]:
    """Start Prometheus with a given config file (its relative paths resolve beside it); stop it on exit."""
    binary = prometheus_tool("prometheus")
    tmp_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_dir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    log_path = tmp_dir / "prometheus.log"
    with log_path.open("wb") as log, httpx.Client(timeout=10.0) as client:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            server = PromServer(
                url=f"http://127.0.0.1:{port}", client=client, log_path=log_path, pid=process.pid
            )
            wait_ready(server, process)
            yield server
        finally:
            stop(process)
