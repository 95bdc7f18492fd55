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
RUNBOOK = REPO / "docs/RUNBOOK.md"
DATASOURCE_VARIABLE = {"type": "prometheus", "uid": "${datasource}"}

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


RENAMED = {
    "docfetch_bytes_downloaded_total": "docfetch_downloaded_bytes_total",
    "docfetch_commit_age_seconds": "docfetch_oldest_unfinished_job_age_seconds",
}


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
    # issue 6's 15 + event-loop lag (issue 11) + partitions lost/recovered (issue 10)
    assert len(documented) == 18


def test_dashboard_panels_take_their_datasource_from_a_variable() -> None:
    board = dashboard()
    assert board["uid"] and board["panels"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == DATASOURCE_VARIABLE, panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"] == DATASOURCE_VARIABLE, panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
    # Importable into any Grafana: no datasource uid of ours is written anywhere in the dashboard.
    provisioned = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert not [d["uid"] for d in provisioned if d["uid"] in DASHBOARD.read_text()]


def test_dashboard_filters_by_instance_and_partition_variables() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    for name in ("instance", "partition"):
        assert variables[name]["type"] == "query" and variables[name]["includeAll"], name
        assert variables[name]["datasource"] == DATASOURCE_VARIABLE
    assert "up{" in variables["instance"]["definition"]
    assert "docfetch_partition_lag" in variables["partition"]["definition"]
    partitioned = {m for m, (_kind, labels) in documented_metrics().items() if "partition" in labels}
    for expr in dashboard_exprs():
        if "docfetch_seed_" in expr:
            continue  # pushed by the producer, not a consumer instance
        assert 'instance=~"$instance"' in expr, expr
        if expr_metrics(expr) & partitioned:
            assert 'partition=~"$partition"' in expr, expr


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


def test_every_alert_has_a_runbook_section() -> None:
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    headings = {
        line.removeprefix("## ").strip().lower()
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("## ")
    }
    for rule in rules:
        assert rule["annotations"]["runbook_url"] == f"docs/RUNBOOK.md#{rule['alert'].lower()}", rule["alert"]
        assert rule["alert"].lower() in headings, rule["alert"]


def test_renamed_metrics_are_gone_and_listed_as_gone() -> None:
    documented = documented_metrics()
    operations = (REPO / "docs/OPERATIONS.md").read_text()
    for old, new in RENAMED.items():
        assert old not in documented and new in documented
        assert f"| `{old}` | `{new}` |" in operations
        for path in (DASHBOARD, ALERTS, REPO / "deploy/prometheus/alerts_test.yml"):
            assert old not in path.read_text(), path


def test_the_name_check_can_fail() -> None:
    bad_labels = check_names('sum by (url) (rate(docfetch_jobs_total{job_id="x"}[5m]))')
    assert set(bad_labels) == {"undocumented label job_id", "undocumented label url"}
    assert check_names("rate(docfetch_job_total[5m])") == ["undocumented metric docfetch_job_total"]
