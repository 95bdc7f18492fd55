"""Issue 6 end to end: real consumers scraped by a real Prometheus.

- Two consumers process a few thousand jobs from a loopback origin; `docfetch_jobs_total` summed through
  Prometheus equals, outcome by outcome and status by status, what `docfetch-producer status --json` reads
  from the state topic.
- A job that never finishes stalls its partition: the consumer's /healthz fails and the DocfetchPartitionStuck
  alert (alerts.yml, thresholds scaled from minutes to seconds) fires in Prometheus.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import MakeTopics
from tests.integration.prom_harness import PromServer, free_port, prometheus_server
from tests.integration.seedfix import kafka_args, run_cli
from tests.unit.test_dashboard import dashboard_exprs, documented_series

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
JOBS = 2000
MISSING_EVERY = 4  # every 4th URL is a 404, so both outcomes and two statuses are counted
STALL_MAX_S = 60.0  # a stalled response is released at the latest then, or when the origin stops
STOP_TIMEOUT_S = 30.0


class Origin(ThreadingHTTPServer):
    daemon_threads = True
    release = threading.Event()


class OriginHandler(BaseHTTPRequestHandler):
    """/pdf/N: a small distinct PDF; /missing/N: 404; /stall/N: headers, then no body until released."""

    server: Origin

    def do_GET(self) -> None:
        kind, _, name = self.path.strip("/").partition("/")
        if kind == "pdf":
            self.reply(200, b"%PDF-1.4\n% docfetch e2e " + name.encode() + b"\n" + b"0" * 2048 + b"\n%%EOF\n")
        elif kind == "stall":
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"%PDF-1.4\n")
            self.wfile.flush()
            self.server.release.wait(STALL_MAX_S)
        else:
            self.reply(404, b"not here")

    def reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/pdf" if code == 200 else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def origin() -> Iterator[str]:
    """The origin on a free loopback port; yields its base URL; stalled responses released on exit."""
    server = Origin(("127.0.0.1", 0), OriginHandler)
    server.release = threading.Event()
    thread = threading.Thread(target=server.serve_forever, name="e2e-origin", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def consumer(
    settings: Any, tmp: Path, *, port: int, origin_base: str, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`docfetch-consumer run` as a process (settings from DOCFETCH_* variables); SIGTERM on exit.

    Every endpoint the engine could call is on the loopback origin, and politeness is off: the test's
    thousands of jobs share one host, which real politeness would spread over minutes.
    """
    environ = {
        **os.environ,
        "DOCFETCH_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "DOCFETCH_JOBS_TOPIC": settings.jobs_topic,
        "DOCFETCH_STATE_TOPIC": settings.state_topic,
        "DOCFETCH_DLQ_TOPIC": settings.dlq_topic,
        "DOCFETCH_GROUP_ID": settings.group_id,
        "DOCFETCH_STORE": str(tmp / "store"),
        "DOCFETCH_METRICS_PORT": str(port),
        "DOCFETCH_ALLOW_PRIVATE_HOSTS": "true",
        "DOCFETCH_DOI_RESOLVER": f"{origin_base}/doi/",
        "DOCFETCH_WAYBACK_AVAILABILITY_URL": f"{origin_base}/wayback/available",
        "DOCFETCH_WAYBACK_MAX_LOOKUPS": "0",
        "DOCFETCH_HOST_CONCURRENCY": "64",
        "DOCFETCH_HOST_MIN_INTERVAL_S": "0",
        "DOCFETCH_BREAKER_FAILURES": "1000000",
        **env,
    }
    argv = [sys.executable, "-c", "import sys; from consumer.cli import main; sys.exit(main())", "run"]
    with (tmp / f"consumer-{port}.log").open("wb") as log:
        process = subprocess.Popen(argv, env=environ, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            yield process
        finally:
            stop_consumer(process)


def stop_consumer(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def producer_status(settings: Any) -> dict[str, Any]:
    argv = [sys.executable, "-m", "producer", "status", "--json", *kafka_args(settings)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True, cwd=REPO)
    status: dict[str, Any] = json.loads(result.stdout)
    return status


def by_label(prom: PromServer, expr: str, label: str) -> dict[str, int]:
    return {r["metric"].get(label, ""): round(float(r["value"][1])) for r in prom.query(expr)}


def write_urls(path: Path, base: str) -> int:
    """The seed file (work_id,url); returns how many URLs resolve to a PDF."""
    lines = [f"W{n},{base}/{'missing' if n % MISSING_EVERY == 0 else 'pdf'}/{n}" for n in range(1, JOBS + 1)]
    path.write_text("\n".join(lines) + "\n")
    return sum(1 for line in lines if "/pdf/" in line)


async def test_jobs_total_matches_producer_status(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=4)
    ports = [free_port(), free_port()]
    with ExitStack() as stack:
        base = stack.enter_context(origin())
        pdfs = write_urls(tmp_path / "works.csv", base)
        assert (
            await run_cli(settings, "seed", str(tmp_path / "works.csv"), "--format", "urls", "--quiet") == 0
        )
        processes = [
            stack.enter_context(consumer(settings, tmp_path, port=p, origin_base=base)) for p in ports
        ]
        targets = [f"127.0.0.1:{p}" for p in ports]
        prom = stack.enter_context(prometheus_server(targets, tmp_dir=tmp_path / "prom"))
        total = "sum(docfetch_jobs_total)"
        prom.wait_for(total, lambda r: bool(r) and float(r[0]["value"][1]) >= JOBS, timeout_s=240)
        await asyncio.sleep(2)  # two more scrapes: a count above JOBS (a job counted twice) would show now
        outcomes = by_label(prom, "sum by (outcome) (docfetch_jobs_total)", "outcome")
        failed = by_label(prom, 'sum by (status) (docfetch_jobs_total{outcome="failed"})', "status")
        status = producer_status(settings)
        assert outcomes == {"finalized": pdfs, "failed": JOBS - pdfs}
        assert status["states"] == {"FINALIZED": outcomes["finalized"], "FAILED": outcomes["failed"]}
        assert status["statuses"] == failed and status["pending"] == 0
        assert set(prom.targets_up().values()) == {"up"} and all(p.poll() is None for p in processes)
        check_exposed_names(prom)
        # No poison was seeded and no Pushgateway runs here: those panels are empty by design.
        quiet = ("docfetch_dlq_", "docfetch_seed_")
        shown = [e for e in dashboard_exprs() if not any(q in e for q in quiet)]
        assert [e for e in shown if not prom.query(grafana(e))] == []
    assert [p.returncode for p in processes] == [0, 0]


def grafana(expr: str) -> str:
    return expr.replace("$__rate_interval", "1m").replace("$instance", ".*").replace("$partition", ".*")


def check_exposed_names(prom: PromServer) -> None:
    """What real consumers expose is documented, and the always-present series are there."""
    exposed = set(by_label(prom, 'count by (__name__) ({__name__=~"docfetch_.+"})', "__name__"))
    assert exposed - set(documented_series()) == set()
    always = {
        "docfetch_jobs_total",
        "docfetch_inflight_jobs",
        "docfetch_partition_lag",
        "docfetch_skipped_total",
    }
    assert always | {"docfetch_job_duration_seconds_bucket", "docfetch_restore_seconds_bucket"} <= exposed
    assert "docfetch_oldest_unfinished_job_age_seconds" in exposed


def stuck_rule_file(directory: Path, *, age_s: int, for_s: int) -> Path:
    """alerts.yml's DocfetchPartitionStuck alone, with its 10-minute age and 5-minute `for` scaled down."""
    rules = yaml.safe_load(ALERTS.read_text())
    rule = next(r for g in rules["groups"] for r in g["rules"] if r["alert"] == "DocfetchPartitionStuck")
    assert rule["expr"].count("> 600") == 1 and rule["for"] == "5m"
    rule = {**rule, "expr": rule["expr"].replace("> 600", f"> {age_s}"), "for": f"{for_s}s"}
    path = directory / "stuck.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "stuck", "rules": [rule]}]}))
    return path


def wait_status(url: str, wanted: int, timeout_s: float) -> list[int]:
    """Poll `url` until it answers `wanted`; the codes seen (connection failures as 0)."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout_s
    while not seen or seen[-1] != wanted:
        assert time.monotonic() < deadline, f"{url}: never {wanted}, saw {sorted(set(seen))}"
        try:
            seen.append(httpx.get(url, timeout=2).status_code)
        except httpx.TransportError:
            seen.append(0)
        time.sleep(0.2)
    return seen


async def test_stalled_partition_fails_healthz_and_fires_the_stuck_alert(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=1)
    port = free_port()
    with ExitStack() as stack:
        base = stack.enter_context(origin())
        lines = [f"W0,{base}/stall/0", *(f"W{n},{base}/pdf/{n}" for n in range(1, 6))]
        (tmp_path / "works.csv").write_text("\n".join(lines) + "\n")
        assert (
            await run_cli(settings, "seed", str(tmp_path / "works.csv"), "--format", "urls", "--quiet") == 0
        )
        # The stalled response must outlast the test: the engine's timeouts raised.
        stall = {
            "DOCFETCH_STALL_TIMEOUT_S": "5",
            "DOCFETCH_DRAIN_TIMEOUT_S": "1",
            "DOCFETCH_READ_TIMEOUT_S": "300",
            "DOCFETCH_JOB_DEADLINE_S": "300",
        }
        process = stack.enter_context(consumer(settings, tmp_path, port=port, origin_base=base, **stall))
        rules = stuck_rule_file(tmp_path, age_s=3, for_s=2)
        prom = stack.enter_context(
            prometheus_server([f"127.0.0.1:{port}"], tmp_dir=tmp_path / "prom", rule_files=[rules])
        )
        wait_status(f"http://127.0.0.1:{port}/readyz", 200, timeout_s=60)
        seen = wait_status(f"http://127.0.0.1:{port}/healthz", 503, timeout_s=60)
        assert 200 in seen  # healthy first, then failing because of the stall
        prom.wait_for(
            'docfetch_partition_lag{partition="0"}', lambda r: bool(r) and r[0]["value"][1] != "0", 20
        )
        firing = wait_alert(prom, "DocfetchPartitionStuck", timeout_s=60)
        assert firing["labels"]["partition"] == "0" and firing["labels"]["severity"] == "critical"
        assert process.poll() is None
    assert process.returncode == 0


def wait_alert(prom: PromServer, name: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        alerts = [a for a in prom.alerts() if a["labels"]["alertname"] == name and a["state"] == "firing"]
        if alerts:
            return alerts[0]
        assert time.monotonic() < deadline, f"{name} not firing: {prom.alerts()}"
        time.sleep(0.5)
