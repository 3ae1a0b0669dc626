from __future__ import annotations

import argparse

import pytest
from pydantic import ValidationError

from cxpulse.config.settings import Settings, add_settings_arguments, settings_from_args


def parse(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    return settings_from_args(parser.parse_args(argv))


def test_defaults_are_local_and_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"CXPULSE_{name.upper()}", raising=False)
    settings = parse([])
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.web_host == "127.0.0.1"
    assert settings.input_topic == "interactions"


def test_flag_beats_env_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPULSE_ALERTS_TOPIC", "from-env")
    monkeypatch.setenv("CXPULSE_PARTITIONS", "8")
    settings = parse(["--partitions", "2", "--no-emit-snapshots"])
    assert settings.alerts_topic == "from-env"
    assert settings.partitions == 2
    assert settings.emit_snapshots is False


def test_settings_are_frozen() -> None:
    settings = parse([])
    with pytest.raises(ValidationError):
        settings.partitions = 3  # type: ignore[misc]


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPULSE_WEB_PORT", "70000")
    with pytest.raises(ValidationError, match="web_port"):
        parse([])


def test_a_retired_setting_is_refused_with_its_successor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPULSE_ROCKSDB_CACHE_MB", "8")
    with pytest.raises(ValidationError, match=r"ROCKSDB_CACHE_MB .*CXPULSE_ROCKSDB_MEMORY_MB"):
        parse([])


def test_help_documents_every_setting_with_its_env_var() -> None:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    text = parser.format_help().replace("\n", " ")
    for name in Settings.model_fields:
        assert f"CXPULSE_{name.upper()}" in text
        assert "--" + name.replace("_", "-") in text


def test_every_scoring_setting_defaults_to_the_scoring_models_own_default() -> None:
    """One source for each default: a setting that names a ScoringConfig field starts from
    the same value, so the worker, the replay and the pure tests score alike."""
    from dataclasses import MISSING, fields

    from cxpulse.scoring.config import ScoringConfig

    shared = [f for f in fields(ScoringConfig) if f.name in Settings.model_fields]
    assert len(shared) >= 20
    for model_field in shared:
        assert model_field.default is not MISSING
        assert Settings.model_fields[model_field.name].default == model_field.default, (
            model_field.name
        )
