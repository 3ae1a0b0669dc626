"""deploy/alertmanager/alertmanager.yml: valid for Alertmanager, and routes what it says.

``amtool`` (Debian package ``prometheus-alertmanager``; `make test` installs it) checks the
configuration as shipped and with its commented receiver examples filled in, and resolves
the routing tree for sample label sets.
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
from cxpulse.schemas.outputs import EntityType

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
LOCAL_PROMETHEUS = REPO / "deploy" / "prometheus" / "prometheus.yml"
needs_amtool = pytest.mark.skipif(
    shutil.which("amtool") is None,
    reason="amtool not on PATH (Debian package `prometheus-alertmanager`; `make test` "
    "installs it through deploy/test-prereqs.sh)",
)


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["amtool", *args], capture_output=True, text=True, timeout=60, check=False
    )


def uncommented(text: str) -> str:
    """The configuration with its `#> ` examples switched on."""
    return re.sub(r"^(\s*)#> ", r"\1", text, flags=re.MULTILINE)


def receivers_for(config: Path, **labels: str) -> list[str]:
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={config}",
        *(f"{name}={value}" for name, value in labels.items()),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split(",")


@needs_amtool
def test_amtool_accepts_the_shipped_config() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_amtool
def test_amtool_accepts_the_config_with_every_receiver_example_filled_in(tmp_path: Path) -> None:
    filled = uncommented(CONFIG.read_text())
    examples = yaml.safe_load(filled)["receivers"]
    integrations = {key for receiver in examples for key in receiver if key.endswith("_configs")}
    assert integrations == {
        "webhook_configs",
        "slack_configs",
        "email_configs",
        "pagerduty_configs",
    }
    path = tmp_path / "alertmanager.yml"
    path.write_text(filled)
    result = amtool("check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_receivers_send_nothing_until_filled_in() -> None:
    for receiver in yaml.safe_load(CONFIG.read_text())["receivers"]:
        assert set(receiver) == {"name"}, f"{receiver['name']} sends on day one"


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"entity_type": "queue", "severity": "critical"}, ["cx-incident-pager"]),
        ({"entity_type": "service", "severity": "critical"}, ["cx-incident-pager"]),
        ({"entity_type": "service", "severity": "warning"}, ["cx-team"]),
        ({"entity_type": "agent", "severity": "warning"}, ["supervisors"]),
        ({"entity_type": "customer", "severity": "warning"}, ["customer-care"]),
        ({"entity_type": "customer", "severity": "critical"}, ["customer-care", "cx-team"]),
        ({"entity_type": "rule", "severity": "warning"}, ["cx-insights"]),
        ({"entity_type": "competitor", "severity": "warning"}, ["cx-insights"]),
        ({"area": "pipeline", "severity": "critical"}, ["pipeline-pager"]),
        ({"area": "pipeline", "severity": "warning"}, ["pipeline-oncall"]),
        ({"area": "service-experience", "severity": "warning"}, ["cx-team"]),
        ({"alertname": "anything_else"}, ["cx-team"]),
    ],
)
def test_routing_by_severity_and_entity_type(labels: dict[str, str], receivers: list[str]) -> None:
    assert receivers_for(CONFIG, **labels) == receivers


@pytest.mark.parametrize("entity_type", [e.value for e in EntityType])
def test_every_entity_type_has_a_route(entity_type: str) -> None:
    routes = yaml.safe_load(CONFIG.read_text())["route"]["routes"]
    matched = [
        route
        for route in routes
        for matcher in route.get("matchers", [])
        if (m := re.fullmatch(r'entity_type(=~?)"([^"]*)"', matcher))
        and re.fullmatch(m.group(2), entity_type)
    ]
    assert matched, f"{entity_type} alerts fall through to the catch-all receiver"


def test_cxpulse_alerts_are_grouped_by_condition_and_incidents_mute_their_customers() -> None:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    assert config["route"]["group_by"] == ["group_key", "queue_id", "service_id"]
    mutes = [
        rule
        for rule in config["inhibit_rules"]
        if 'entity_type="service"' in rule["source_matchers"]
        and rule["target_matchers"] == ['entity_type="customer"']
    ]
    assert mutes
    assert mutes[0]["equal"] == ["group_key"]


def test_local_prometheus_alerts_to_the_default_alertmanager() -> None:
    config = yaml.safe_load(LOCAL_PROMETHEUS.read_text())
    targets = [
        target
        for manager in config["alerting"]["alertmanagers"]
        for static in manager["static_configs"]
        for target in static["targets"]
    ]
    default = Settings.model_fields["alertmanager_url"].default
    assert [f"http://{target}" for target in targets] == [default]
