"""Grafana dashboards: valid JSON, one data source variable, and PromQL on real series only.

Every expression a dashboard or a rule file ships may name only the worker's metrics (the
table below, the contract of ``cxpulse.metrics``), the recording rules of
``deploy/prometheus/rules/recording.yml``, or Prometheus' own ``up``.

``extract_promql(path)`` is shared with the live check that runs the real Prometheus against
a worker: it returns every expression of a dashboard (ready to send, Grafana variables
replaced) or of a rule file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DASHBOARD_DIR = REPO / "deploy" / "grafana" / "dashboards"
DASHBOARDS = sorted(DASHBOARD_DIR.glob("*.json"))
RULE_FILES = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
RECORDING_RULES = REPO / "deploy" / "prometheus" / "rules" / "recording.yml"
DATASOURCES = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

WORKER_METRICS: dict[str, str] = {
    "cxpulse_events_total": "counter",
    "cxpulse_dead_letters_total": "counter",
    "cxpulse_duplicates_total": "counter",
    "cxpulse_alerts_total": "counter",
    "cxpulse_grades_total": "counter",
    "cxpulse_loyalty_transitions_total": "counter",
    "cxpulse_consistency_score": "histogram",
    "cxpulse_dazzle_balance": "histogram",
    "cxpulse_agent_consistency": "gauge",
    "cxpulse_queue_consistency": "gauge",
    "cxpulse_end_to_end_latency_seconds": "histogram",
    "cxpulse_processing_seconds": "histogram",
    "cxpulse_consumer_lag": "gauge",
    "cxpulse_table_keys": "gauge",
    "cxpulse_worker_up": "gauge",
    "cxpulse_worker_ready": "gauge",
    "cxpulse_event_time_lag_seconds": "gauge",
    "cxpulse_insights_total": "counter",
    "cxpulse_competitor_mentions_total": "counter",
    "cxpulse_rule_friction": "gauge",
}
PROMETHEUS_SERIES = frozenset({"up"})
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}

# Values a Grafana variable takes when an expression is sent to Prometheus directly.
# `$__rate_interval` is 4 x the 15 s scrape interval; any other variable is a regex matcher
# value (`label=~"$var"`), where `.*` stands for "All".
RATE_INTERVAL = "1m"
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")

_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "bool", "inf", "nan"}
)
_LABEL_VALUES = re.compile(r"^label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*(\w+)\s*\)$")


def _substitute_variables(expr: str) -> str:
    return _VARIABLE.sub(lambda m: RATE_INTERVAL if m.group(1) == "__rate_interval" else ".*", expr)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _load_rules(path: Path) -> list[dict[str, Any]]:
    groups = yaml.safe_load(path.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def extract_promql(path: Path) -> list[str]:
    """Every PromQL expression of a Grafana dashboard (``.json``) or a rule file (``.yml``).

    Dashboard expressions come with their Grafana variables replaced, so each can be sent
    to Prometheus' query API as it is.
    """
    if path.suffix == ".json":
        dashboard = json.loads(path.read_text())
        return [
            _substitute_variables(target["expr"])
            for panel in _panels(dashboard["panels"])
            for target in panel.get("targets", [])
        ]
    return [str(rule["expr"]) for rule in _load_rules(path)]


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression selects (functions, labels and keywords left out)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    return {name for name in _IDENTIFIER.findall(text) if name not in _KEYWORDS}


def series_names(metric: str) -> set[str]:
    """The series a worker metric is exposed as (a classic histogram has no bare name)."""
    if WORKER_METRICS[metric] == "histogram":
        return {f"{metric}_bucket", f"{metric}_sum", f"{metric}_count"}
    return {metric}


def recording_rules() -> dict[str, str]:
    return {rule["record"]: str(rule["expr"]) for rule in _load_rules(RECORDING_RULES)}


def known_series() -> set[str]:
    worker = {name for metric in WORKER_METRICS for name in series_names(metric)}
    return worker | set(recording_rules()) | PROMETHEUS_SERIES


def variable_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(metric, label) of each ``label_values`` query variable."""
    found = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = _LABEL_VALUES.match(variable["query"]["query"])
        assert match, f"variable {variable['name']}: not a label_values() query"
        found.append((match.group(1), match.group(2)))
    return found


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("up", {"up"}),
        ('sum by (type) (rate(cxpulse_events_total{type=~"a|b"}[5m]))', {"cxpulse_events_total"}),
        (
            "histogram_quantile(0.95, sum by (output, le) (rate(x_bucket[$__rate_interval])))",
            {"x_bucket"},
        ),
        ("a / ignoring (grade) group_left () b", {"a", "b"}),
        ("(sum(rate(a[30m])) or vector(0)) / sum(rate(b[30m] offset 5m))", {"a", "b"}),
        (
            "level:metric:rate5m > 0.05 and deriv(other:metric:sum[10m]) > 0",
            {"level:metric:rate5m", "other:metric:sum"},
        ),
        ('absent(up{job="cxpulse-worker"})', {"up"}),
        ('bottomk(10, max by (queue_id) (g{queue_id=~"$queue"}))', {"g"}),
        ('count(m{label="rate(fake[5m])"}) > bool 1', {"m"}),
    ],
)
def test_metric_names_finds_selected_series_only(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected


def test_extract_promql_replaces_grafana_variables(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    target = {"expr": 'sum(rate(m{q=~"$queue"}[$__rate_interval]))', "refId": "A"}
    path.write_text(json.dumps({"panels": [{"type": "row", "panels": [{"targets": [target]}]}]}))
    assert extract_promql(path) == ['sum(rate(m{q=~".*"}[1m]))']


def test_there_are_two_dashboards_with_unique_uids() -> None:
    names = {path.name for path in DASHBOARDS}
    assert names == {"pipeline-health.json", "service-experience.json"}
    uids = [load(path)["uid"] for path in DASHBOARDS]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_panels_are_laid_out_and_queried(path: Path) -> None:
    panels = list(_panels(load(path)["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(set(ids)) == len(ids), "panel ids must be unique"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], f"{panel['title']}: no query"
            assert panel["description"], f"{panel['title']}: no description"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_query_uses_the_datasource_variable(path: Path) -> None:
    dashboard = load(path)
    for panel in _panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE_REF, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE_REF, panel["title"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE_REF, variable["name"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_datasource_variable_defaults_to_the_provisioned_prometheus(path: Path) -> None:
    provisioned = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    prometheus_uids = {ds["uid"] for ds in provisioned if ds["type"] == "prometheus"}
    variables = {v["name"]: v for v in load(path)["templating"]["list"]}
    datasource = variables["datasource"]
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"
    assert datasource["current"]["value"] in prometheus_uids


@pytest.mark.parametrize("path", DASHBOARDS + RULE_FILES, ids=lambda p: p.name)
def test_expressions_select_only_known_series(path: Path) -> None:
    known = known_series()
    expressions = extract_promql(path)
    assert expressions
    for expr in expressions:
        unknown = metric_names(expr) - known
        assert not unknown, f"{expr!r} selects unknown series {sorted(unknown)}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_variables_list_labels_of_worker_metrics(path: Path) -> None:
    queries = variable_queries(load(path))
    assert queries
    for metric, _label in queries:
        assert metric in WORKER_METRICS


def test_every_worker_metric_is_on_a_dashboard() -> None:
    rules = recording_rules()
    shown: set[str] = set()
    pending = [
        name for path in DASHBOARDS for expr in extract_promql(path) for name in metric_names(expr)
    ]
    pending += [metric for path in DASHBOARDS for metric, _ in variable_queries(load(path))]
    while pending:
        name = pending.pop()
        if name not in shown:
            shown.add(name)
            pending.extend(metric_names(rules.get(name, "")))
    missing = [metric for metric in WORKER_METRICS if not series_names(metric) & shown]
    assert not missing, f"not shown on any dashboard: {missing}"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not on PATH")
def test_dashboard_expressions_are_valid_promql(tmp_path: Path) -> None:
    expressions = [expr for path in DASHBOARDS for expr in extract_promql(path)]
    rules = [{"record": f"dashboard:expr_{i}", "expr": e} for i, e in enumerate(expressions)]
    rule_file = tmp_path / "dashboard_expressions.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        ["promtool", "check", "rules", str(rule_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
