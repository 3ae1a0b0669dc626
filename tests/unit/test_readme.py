"""The README is part of the product: it must stay true to the code."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from cxpulse.commands.cli import COMMANDS
from cxpulse.config.settings import Settings
from cxpulse.metrics import Metrics
from cxpulse.schemas.events import EVENT_TYPES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented_with_its_env_var_and_default() -> None:
    for name, info in Settings.model_fields.items():
        row = next(
            (
                line
                for line in README.splitlines()
                if line.startswith(f"| `CXPULSE_{name.upper()}`")
            ),
            None,
        )
        assert row is not None, f"CXPULSE_{name.upper()} missing from the README"
        assert str(info.default) in row or repr(info.default) in row, row


def test_every_event_type_and_command_is_documented() -> None:
    for event_type in EVENT_TYPES:
        assert f"`{event_type}`" in README
    for command in [*COMMANDS, "adapt", "schema"]:
        assert f"cxpulse {command}" in README


def test_every_worker_metric_is_in_the_operations_reference() -> None:
    reference = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    registry = CollectorRegistry()
    Metrics(registry)
    for family in registry.collect():
        suffix = "_total" if family.type == "counter" else ""
        assert f"`{family.name}{suffix}`" in reference, family.name
