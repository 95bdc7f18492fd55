"""The Grafana dashboard and the alert rules refer only to metrics and labels docs/OPERATIONS.md documents.

The PromQL itself is checked against a real Prometheus in tests/integration/test_deploy_prometheus.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy/grafana/dashboards/docfetch.json"
DATASOURCES = REPO / "deploy/grafana/provisioning/datasources/prometheus.yml"
DASHBOARD_PROVIDER = REPO / "deploy/grafana/provisioning/dashboards/docfetch.yml"
ALERTS = REPO / "deploy/prometheus/alerts.yml"

# Series names a documented metric of each type exposes (prometheus_client conventions).
SUFFIXES = {
    "counter": ("", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}
# Labels Prometheus adds to every series, and the histogram bucket label.
BUILTIN_LABELS = {"instance", "job", "le", "deployment"}
# Everything in a PromQL expression that looks like a name but is not a metric.
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "and", "or", "unless", "on", "ignoring",
    "group_left", "group_right", "rate", "increase", "irate", "histogram_quantile", "absent", "changes",
    "delta", "deriv", "time", "offset", "bool", "topk", "bottomk", "clamp_min", "clamp_max", "vector",
}  # fmt: skip


def documented_metrics() -> dict[str, tuple[str, set[str]]]:
    """metric -> (type, labels), from the metrics table in docs/OPERATIONS.md."""
    table = {}
    row = re.compile(r"^\| `(docfetch_\w+)` \| (\w+) \| ([^|]*)\|")
    for line in (REPO / "docs/OPERATIONS.md").read_text().splitlines():
        if match := row.match(line):
            labels = set(re.findall(r"`(\w+)`", match[3]))
            table[match[1]] = (match[2], labels)
    return table


def documented_series() -> dict[str, set[str]]:
    """Every series name a documented metric exposes -> the labels it may carry."""
    series = {}
    for name, (kind, labels) in documented_metrics().items():
        base = name.removesuffix("_total") if kind == "counter" else name
        for suffix in SUFFIXES[kind]:
            series[name if suffix == "" else base + suffix] = labels | BUILTIN_LABELS
    return series


def expr_metrics(expr: str) -> set[str]:
    """Metric names used in a PromQL expression: identifiers outside braces, strings and label lists."""
    text = re.sub(r'"[^"]*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", text))
    return {w for w in words if w not in PROMQL_WORDS and not w.startswith("__")}


def expr_labels(expr: str) -> set[str]:
    """Label names in matchers and in by/on/... lists."""
    text = re.sub(r'"[^"]*"', '""', expr)
    labels = set()
    for group in re.findall(r"\{([^}]*)\}", text):
        labels |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", group))
    for group in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text):
        labels |= {label.strip() for label in group.split(",") if label.strip()}
    return labels


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]


def alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def check_names(expr: str) -> list[str]:
    """What in one expression is not documented; empty when all is."""
    series = documented_series()
    problems = []
    for metric in expr_metrics(expr):
        if metric.startswith("docfetch_") and metric not in series:
            problems.append(f"undocumented metric {metric}")
        elif not metric.startswith(("docfetch_", "process_")) and metric != "up":
            problems.append(f"unknown name {metric}")
    allowed = set().union(*(series[m] for m in expr_metrics(expr) if m in series)) | BUILTIN_LABELS
    problems += [f"undocumented label {label}" for label in expr_labels(expr) - allowed]
    return problems


def test_the_metrics_table_lists_the_issue_6_metrics() -> None:
    documented = documented_metrics()
    assert documented["docfetch_jobs_total"] == ("counter", {"outcome", "status"})
    assert documented["docfetch_job_duration_seconds"][0] == "histogram"
    assert documented["docfetch_partition_lag"] == ("gauge", {"partition"})
    assert len(documented) == 17  # issue 6's 15 + partitions lost/recovered (issue 10)


def test_dashboard_panels_have_targets_on_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    uids = {d["uid"] for d in provisioned if d["type"] == "prometheus"}
    board = dashboard()
    assert board["uid"] and board["panels"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] in uids, panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"]["uid"] in uids, panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


def test_dashboard_shows_every_documented_metric() -> None:
    used = set().union(*(expr_metrics(e) for e in dashboard_exprs()))
    missing = [
        name
        for name, (kind, _) in documented_metrics().items()
        if not any(name.removesuffix("_total") + suffix in used or name in used for suffix in SUFFIXES[kind])
    ]
    assert missing == []


def test_dashboard_is_provisioned_from_the_mounted_directory() -> None:
    provider = yaml.safe_load(DASHBOARD_PROVIDER.read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboard_uses_only_documented_metrics_and_labels() -> None:
    problems = {expr: check_names(expr) for expr in dashboard_exprs()}
    assert {e: p for e, p in problems.items() if p} == {}


def test_alert_rules_use_only_documented_metrics_and_labels() -> None:
    exprs = alert_exprs()
    assert len(exprs) >= 4
    problems = {expr: check_names(expr) for expr in exprs}
    assert {e: p for e, p in problems.items() if p} == {}


def test_the_name_check_can_fail() -> None:
    bad_labels = check_names('sum by (url) (rate(docfetch_jobs_total{job_id="x"}[5m]))')
    assert set(bad_labels) == {"undocumented label job_id", "undocumented label url"}
    assert check_names("rate(docfetch_job_total[5m])") == ["undocumented metric docfetch_job_total"]
