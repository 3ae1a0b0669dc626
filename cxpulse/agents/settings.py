"""One frozen settings object, read from ``CXPULSE_*`` environment variables and CLI flags.

Built once in ``main()`` and passed down; nothing else reads the environment.  Flags beat
environment variables, which beat the defaults below.
"""

from __future__ import annotations

import argparse
from typing import Any, Literal, get_args, get_origin

from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CXPULSE_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    # --- Kafka -------------------------------------------------------------------------
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma separated host:port"
    )
    app_id: str = Field("cxpulse", description="faust app id: consumer group and topic prefix")
    input_topic: str = Field("interactions", description="canonical v1 events from producers")
    events_topic: str = Field(
        "cxpulse-events", description="internal: validated events keyed by customer_id"
    )
    summaries_topic: str = Field(
        "cxpulse-summaries",
        description="internal: finished interactions, keyed by agent or queue",
    )
    alerts_topic: str = Field("alerts", description="alerts for ops teams")
    scores_topic: str = Field("scores", description="score snapshots per entity")
    insights_topic: str = Field("insights", description="conversation intelligence")
    dead_letter_topic: str = Field("dead-letters", description="inputs that could not be used")
    partitions: int = Field(4, ge=1, le=1024, description="partitions of every topic created")
    replication_factor: int = Field(1, ge=1, le=16, description="replication of created topics")

    # --- worker ------------------------------------------------------------------------
    store: str = Field("memory://", description="faust table store URL (memory:// or rocksdb://)")
    data_dir: str = Field("var/cxpulse", description="worker data directory (tables, state)")
    web_host: str = Field("127.0.0.1", description="bind address of /metrics, /healthz, /readyz")
    web_port: int = Field(6066, ge=1, le=65535, description="port of /metrics, /healthz, /readyz")
    log_level: Literal["debug", "info", "warn", "error"] = Field("info", description="log level")
    max_event_bytes: int = Field(
        65_536, ge=256, le=1_048_576, description="larger input messages are dead-lettered"
    )
    emit_snapshots: bool = Field(True, description="publish score snapshots to the scores topic")
    batch_size: int = Field(1_000, ge=1, le=100_000, description="max messages an agent takes at once")
    batch_within_ms: float = Field(
        20.0, gt=0, description="max wait to fill a batch before processing what has arrived"
    )
    event_loop: Literal["uvloop", "asyncio"] = Field("uvloop", description="asyncio event loop")
    max_entity_labels: int = Field(
        500, ge=0, description="cap on agent_id / queue_id label values in /metrics"
    )

    # --- scoring -----------------------------------------------------------------------
    dazzle_half_life_hours: float = Field(
        168.0, gt=0, description="event-time half-life of the dazzle / de-dazzle balance"
    )
    dedup_window_hours: float = Field(
        168.0, gt=0, description="event-time window in which a repeated event_id is a duplicate"
    )
    alert_cooldown_minutes: float = Field(
        60.0, ge=0, description="minimum event time between two alerts of one kind and entity"
    )


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _arg_type(info: FieldInfo) -> dict[str, Any]:
    annotation = info.annotation
    if get_origin(annotation) is Literal:
        return {"choices": list(get_args(annotation))}
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    if annotation in (int, float):
        return {"type": annotation}
    return {"type": str}


def add_settings_arguments(
    parser: argparse.ArgumentParser, names: tuple[str, ...] | None = None
) -> None:
    """Add one ``--flag`` per setting, documenting its env var and default in ``--help``."""
    group = parser.add_argument_group("settings (flag > CXPULSE_* env var > default)")
    for name, info in Settings.model_fields.items():
        if names is not None and name not in names:
            continue
        env = ENV_PREFIX + name.upper()
        group.add_argument(
            _flag(name),
            dest=f"setting_{name}",
            default=None,
            help=f"{info.description} [env {env}; default {info.default!r}]",
            **_arg_type(info),
        )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Flags given on the command line override environment variables."""
    overrides = {
        key.removeprefix("setting_"): value
        for key, value in vars(args).items()
        if key.startswith("setting_") and value is not None
    }
    return Settings(**overrides)
