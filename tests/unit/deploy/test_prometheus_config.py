"""Prometheus configuration and rules: what they scrape, what they record, what they alert on.

The promtool checks (config, rules and the rule unit tests in
``deploy/prometheus/tests/rules_test.yml``) run when promtool is on PATH; CI installs it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cxpulse.config.settings import Settings
from tests.unit.deploy.test_dashboards import (
    DASHBOARDS,
    RECORDING_RULES,
    extract_promql,
    metric_names,
    recording_rules,
)

PROMETHEUS_DIR = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"
LOCAL_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
COMPOSE_CONFIG = PROMETHEUS_DIR / "prometheus.compose.yml"
CONFIGS = [LOCAL_CONFIG, COMPOSE_CONFIG]
ALERTING_RULES = PROMETHEUS_DIR / "rules" / "alerting.yml"
RULE_TESTS = PROMETHEUS_DIR / "tests" / "rules_test.yml"
WORKER_JOB = "cxpulse-worker"
SEVERITIES = {"critical", "warning"}
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not on PATH (Debian package `prometheus`; CI installs it)",
)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alerting_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTING_RULES)["groups"] for rule in group["rules"]]


def worker_job(config: Path) -> dict[str, Any]:
    jobs = {job["job_name"]: job for job in load_yaml(config)["scrape_configs"]}
    job: dict[str, Any] = jobs[WORKER_JOB]
    return job


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_rule_files_resolve_to_the_shipped_rules(config: Path) -> None:
    resolved = {
        path for pattern in load_yaml(config)["rule_files"] for path in config.parent.glob(pattern)
    }
    assert resolved == {RECORDING_RULES, ALERTING_RULES}


def test_local_config_scrapes_the_default_worker_address() -> None:
    targets = {
        target
        for sd in worker_job(LOCAL_CONFIG)["file_sd_configs"]
        for pattern in sd["files"]
        for path in LOCAL_CONFIG.parent.glob(pattern)
        for group in load_yaml(path)
        for target in group["targets"]
    }
    defaults = Settings.model_fields
    assert f"{defaults['web_host'].default}:{defaults['web_port'].default}" in targets


def test_compose_config_discovers_every_worker_replica_by_dns() -> None:
    (dns,) = worker_job(COMPOSE_CONFIG)["dns_sd_configs"]
    assert dns["names"] == ["worker"]
    assert dns["type"] == "A"
    assert dns["port"] == Settings.model_fields["web_port"].default


def test_job_label_in_expressions_matches_the_scrape_job() -> None:
    paths = [*DASHBOARDS, RECORDING_RULES, ALERTING_RULES]
    jobs = {
        job
        for path in paths
        for expr in extract_promql(path)
        for job in re.findall(r'\bjob\s*=~?\s*"([^"]*)"', expr)
    }
    assert jobs == {WORKER_JOB}


def test_recording_rule_names_are_unique_and_leveled() -> None:
    groups = load_yaml(RECORDING_RULES)["groups"]
    names = [rule["record"] for group in groups for rule in group["rules"]]
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", name), f"{name}: not level:metric:ops"


def test_every_recording_rule_is_used() -> None:
    rules = recording_rules()
    consumers = [expr for path in [*DASHBOARDS, ALERTING_RULES] for expr in extract_promql(path)]
    consumers += list(rules.values())
    used = {name for expr in consumers for name in metric_names(expr)}
    unused = sorted(set(rules) - used)
    assert not unused, f"recording rules nothing reads: {unused}"


def test_alerts_carry_severity_summary_and_description() -> None:
    rules = alerting_rules()
    names = [rule["alert"] for rule in rules]
    assert len(set(names)) == len(names)
    for rule in rules:
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["description"].strip(), rule["alert"]
        assert "for" in rule, f"{rule['alert']}: fires on a single evaluation"


def test_every_alert_has_a_firing_unit_test() -> None:
    tested = {
        case["alertname"]
        for test in load_yaml(RULE_TESTS)["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    missing = sorted({rule["alert"] for rule in alerting_rules()} - tested)
    assert not missing, f"alerts no test sees firing: {missing}"


@needs_promtool
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_promtool_accepts_config(config: Path) -> None:
    result = promtool("check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_rules() -> None:
    result = promtool("check", "rules", str(RECORDING_RULES), str(ALERTING_RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
