"""deploy/prometheus and the dashboard against the real Prometheus tools: promtool checks, the alert rules'
unit tests, and every PromQL expression evaluated by a running server scraping a real exporter.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)

from tests.integration.prom_harness import (
    PromQueryError,
    free_port,
    prometheus_from_config,
    prometheus_server,
    prometheus_tool,
)
from tests.unit.test_dashboard import alert_exprs, dashboard_exprs, documented_metrics

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "deploy" / "prometheus"
# Grafana's variables, replaced by what Grafana would put there for a short time range.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "5s", "$__range": "1h", "$instance": ".*",
                     "$partition": ".*"}  # fmt: skip
# One value per documented label, so every labelled series exists.
LABEL_VALUES = {
    "outcome": "failed",
    "status": "timeout",
    "partition": "0",
    "tier": "oa_pdf",
    "code_class": "2xx",
    "reason": "poison-message",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [prometheus_tool("promtool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("config", ["prometheus.yml", "local.yml"])
def test_promtool_accepts_the_config(config: str) -> None:
    result = promtool("check", "config", str(PROM_DIR / config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_promtool_accepts_the_alert_rules_and_their_unit_tests_pass() -> None:
    check = promtool("check", "rules", str(PROM_DIR / "alerts.yml"))
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{len(alert_exprs())} rules found" in check.stdout
    unit = promtool("test", "rules", str(PROM_DIR / "alerts_test.yml"))
    assert unit.returncode == 0, unit.stdout + unit.stderr


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n- name: x\n  rules:\n  - alert: A\n    expr: sum(rate(x[5m])\n")
    assert promtool("check", "rules", str(broken)).returncode != 0


@contextmanager
def exporter(registry: CollectorRegistry) -> Iterator[str]:
    """A prometheus_client HTTP exporter on a free loopback port; yields host:port; shut down on exit."""
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def documented_registry() -> CollectorRegistry:
    """Every documented docfetch metric with its documented labels, one sample each, plus process metrics."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    kinds = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}
    for name, (kind, labels) in documented_metrics().items():
        metric = kinds[kind](name, name, sorted(labels), registry=registry)
        child = metric.labels(**{label: LABEL_VALUES[label] for label in labels}) if labels else metric
        if kind == "counter":
            child.inc(3)
        elif kind == "gauge":
            child.set(2)
        else:
            child.observe(0.5)
    return registry


def test_harness_scrapes_a_real_exporter_and_stops_cleanly(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    counter = Counter("harness_demo", "a counter the test sets", registry=registry)
    counter.inc(7)
    with exporter(registry) as target, prometheus_server([target], tmp_dir=tmp_path, job="demo") as prom:
        result = prom.wait_for('harness_demo_total{job="demo"}', lambda r: len(r) == 1, 20)
        assert float(result[0]["value"][1]) == 7
        counter.inc(5)
        prom.wait_for("harness_demo_total", lambda r: bool(r) and float(r[0]["value"][1]) == 12, 20)
        assert set(prom.targets_up().values()) == {"up"}
        with pytest.raises(PromQueryError, match="parse error"):
            prom.query("sum(rate(harness_demo_total[1m])")
        pid = prom.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_local_config_discovers_targets_from_its_file_and_loads_the_rules(tmp_path: Path) -> None:
    """deploy/prometheus/local.yml as shipped (copied with alerts.yml), its targets file pointing at a real
    exporter: Prometheus finds the target through file_sd and evaluates the alert rules."""
    for name in ("local.yml", "alerts.yml"):
        shutil.copy(PROM_DIR / name, tmp_path / name)
    registry = CollectorRegistry()
    Gauge("docfetch_inflight_jobs", "in flight", registry=registry).set(4)
    with exporter(registry) as target:
        (tmp_path / "targets").mkdir()
        (tmp_path / "targets" / "local.json").write_text(json.dumps([{"targets": [target]}]))
        with prometheus_from_config(tmp_path / "local.yml", tmp_dir=tmp_path / "run") as prom:
            result = prom.wait_for('docfetch_inflight_jobs{job="docfetch-consumer"}', bool, 30)
            assert float(result[0]["value"][1]) == 4
            assert set(prom.rule_health().values()) == {"ok"}
            assert len(prom.rule_health()) == len(alert_exprs())


def grafana_to_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def test_every_dashboard_and_alert_expression_evaluates(tmp_path: Path) -> None:
    """Dashboard panels return data from series shaped like the documented ones; every alert rule loads
    and evaluates without error in a real Prometheus."""
    alerts = PROM_DIR / "alerts.yml"
    with (
        exporter(documented_registry()) as target,
        prometheus_server([target], tmp_dir=tmp_path, rule_files=[alerts]) as prom,
    ):
        prom.wait_for("count_over_time(up[1m])", lambda r: bool(r) and float(r[0]["value"][1]) >= 3, 30)
        empty = [e for e in dashboard_exprs() if not prom.query(grafana_to_promql(e))]
        assert empty == []
        for expr in alert_exprs():
            prom.query(expr)  # raises PromQueryError when invalid
        health = prom.rule_health()
        assert len(health) == len(alert_exprs()) and set(health.values()) == {"ok"}


def test_alert_annotations_point_at_sections_that_exist() -> None:
    text = (PROM_DIR / "alerts.yml").read_text() + (PROM_DIR / "alerts_test.yml").read_text()
    anchors = set(re.findall(r"OPERATIONS\.md#([\w-]+)", text))
    headings = {
        re.sub(r"[^\w\- ]", "", line.lstrip("# ").strip()).lower().replace(" ", "-")
        for line in (REPO / "docs/OPERATIONS.md").read_text().splitlines()
        if line.startswith("#")
    }
    assert anchors and anchors <= headings
