"""One frozen settings object, read from ``CXPULSE_*`` environment variables and CLI flags.

Built once in ``main()`` and passed down; nothing else reads the environment.  Flags beat
environment variables, which beat the defaults below.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args, get_origin

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cxpulse.adapters import ADAPTERS
from cxpulse.config import secrets
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.lexicon import load_lexicon

ENV_PREFIX = "CXPULSE_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", hide_input_in_errors=True
    )

    # --- Kafka -------------------------------------------------------------------------
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma separated host:port"
    )
    app_id: str = Field("cxpulse", description="faust app id: consumer group and topic prefix")
    input_topic: str = Field("interactions", description="canonical v1 events from producers")
    events_topic: str = Field(
        "cxpulse-events",
        description="internal: validated events, one bundle per batch and customer partition",
    )
    summaries_topic: str = Field(
        "cxpulse-summaries",
        description="internal: finished interactions, one bundle per batch and partition",
    )
    alerts_topic: str = Field(
        "alerts", description="alerts: what a person should act on (warning, critical)"
    )
    notices_topic: str = Field(
        "notices",
        description="good news and context (info: dazzle moments, recoveries, a single failed "
        "contact, a lost customer); set it to the alerts topic to get them there",
    )
    scores_topic: str = Field("scores", description="score snapshots per entity")
    insights_topic: str = Field("insights", description="conversation intelligence")
    dead_letter_topic: str = Field("dead-letters", description="inputs that could not be used")
    adapter_sources: str = Field(
        ",".join(ADAPTERS),
        description="platform adapters to run, comma separated (empty: none)",
    )
    raw_topic_prefix: str = Field(
        "raw.", description="a platform's raw payloads are read from <prefix><source name>"
    )
    partitions: int = Field(4, ge=1, le=1024, description="partitions of every topic created")
    replication_factor: int = Field(1, ge=1, le=16, description="replication of created topics")

    # --- worker ------------------------------------------------------------------------
    store: str = Field(
        "rocksdb://",
        description="table store: rocksdb:// (durable, RocksDB via rocksdict) or memory://",
    )
    rocksdb_memory_mb: int = Field(
        64,
        ge=8,
        le=262_144,
        description="RocksDB memory of the whole worker, in MiB: one block cache, with the "
        "index and filter blocks, shared by every table partition; their write buffers are "
        "charged to it and flushed past half of it",
    )
    rocksdb_write_buffer_mb: int = Field(
        8,
        ge=1,
        le=4_096,
        description="largest RocksDB write buffer of a table partition, in MiB (two are kept)",
    )
    data_dir: str = Field("var/cxpulse", description="worker data directory (tables, state)")
    web_host: str = Field("127.0.0.1", description="bind address of /metrics, /healthz, /readyz")
    web_port: int = Field(6066, ge=1, le=65535, description="port of /metrics, /healthz, /readyz")
    log_level: Literal["debug", "info", "warn", "error"] = Field("info", description="log level")
    max_event_bytes: int = Field(
        65_536, ge=256, le=1_048_576, description="larger input messages are dead-lettered"
    )
    emit_snapshots: bool = Field(True, description="publish score snapshots to the scores topic")
    batch_size: int = Field(
        1_000,
        ge=1,
        le=100_000,
        description="max messages an agent takes at once; the customer scorer also holds "
        "about this many customers' state at a time",
    )
    input_path: Literal["batch", "stream"] = Field(
        "stream",
        description="batch: each agent gets the records of one partition's fetch at once; "
        "stream: faust's streams hand records on one by one, as 0.1.0 did",
    )
    batch_within_ms: float = Field(
        50.0,
        gt=0,
        description="max wait to fill a batch before processing what has arrived (stream "
        "input path)",
    )
    entity_batch_within_ms: float = Field(
        50.0,
        gt=0,
        description="the same for the agent and queue scorer, whose windows close by event "
        "time (stream input path); 500 cut CPU per live event by 8 percent and raised peak "
        "memory by 40 MB",
    )
    event_loop: Literal["uvloop", "asyncio"] = Field("uvloop", description="asyncio event loop")
    gc_young_threshold: int = Field(
        25_000,
        ge=700,
        le=10_000_000,
        description="net allocations between two young-generation garbage collections "
        "(Python's default: 700, which cost a third of the scoring CPU)",
    )
    processing_guarantee: Literal["exactly_once", "at_least_once"] = Field(
        "exactly_once",
        description="exactly_once: outputs, state and offsets commit in one Kafka transaction "
        "(consumers read with isolation.level=read_committed); at_least_once: a crash may "
        "repeat an output under the same id",
    )
    session_timeout_s: float = Field(
        30.0,
        ge=6,
        le=1800,
        description="a worker silent this long is presumed dead and its partitions move on",
    )
    commit_interval_ms: float = Field(
        100.0,
        gt=0,
        description="how often offsets (and, exactly-once, transactions) are committed; "
        "exactly-once outputs become visible at the commit",
    )
    fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        le=60_000,
        description="longest the broker holds a fetch that finds no new records; a live "
        "stream can wait this long behind a fetch of quiet partitions",
    )
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
    dedup_max_ids: int = Field(
        256,
        ge=1,
        le=100_000,
        description="most event ids remembered per customer (summary ids per agent, queue, "
        "service) for dedup",
    )
    interaction_timeout_hours: float = Field(
        24.0, gt=0, description="a contact open longer than this is closed (abandoned/unknown)"
    )
    feedback_grace_hours: float = Field(
        72.0, ge=0, description="feedback this long after a contact ended still counts"
    )
    repeat_window_hours: float = Field(
        72.0, ge=0, description="a new contact this soon after an unresolved one is a repeat"
    )
    report_card_window_hours: float = Field(
        720.0, gt=0, description="an F or an A stays on the customer's report card this long"
    )
    consistency_half_life_hours: float = Field(
        720.0, gt=0, description="event-time half-life of a customer's experience statistics"
    )
    promised_wait_seconds: float = Field(
        60.0, gt=0, description="promised service level: answer within this many seconds"
    )
    service_level_target: float = Field(
        0.8, gt=0, le=1, description="promised share of contacts answered within the wait"
    )
    consistency_alert_threshold: float = Field(
        45.0, ge=0, le=100, description="consistency score (0-100) below which to alert"
    )
    agent_consistency_alert_threshold: float = Field(
        50.0,
        ge=0,
        le=100,
        description="an agent's consistency score (0-100) below which to alert (agents "
        "answer for fewer metrics: no wait, no breach)",
    )
    customer_min_samples: int = Field(
        5, ge=1, description="contacts a customer needs before their consistency is scored"
    )
    repeat_failure_min: int = Field(
        3,
        ge=1,
        description="a customer's own failures within the report-card window (broken "
        "promises of no service, failed repeat contacts) that make a repeat_failure alert",
    )
    entity_min_samples: int = Field(
        10,
        ge=1,
        description="contacts an agent's or queue's consistency score rests on: closed windows "
        "are pooled until they hold this many",
    )
    entity_window_minutes: float = Field(
        60.0, gt=0, description="event-time window of agent, queue and service scores"
    )
    allowed_lateness_minutes: float = Field(
        30.0,
        ge=0,
        description="event-time disorder tolerated between summaries before a window closes",
    )
    consistency_pool_max_hours: float = Field(
        336.0,
        ge=0,
        description="an agent's or queue's closed windows are pooled until they hold "
        "entity_min_samples contacts; a pool this old is dropped",
    )
    burst_min_failures: int = Field(
        5, ge=1, description="failures in one queue/service window that make a burst"
    )
    burst_min_rate: float = Field(
        0.3, ge=0, le=1, description="share of a queue/service window that must have failed"
    )
    lexicon_file: str = Field(
        "builtin",
        description="TOML lexicon of competitors, purchase channels and reasons, relationship "
        "cues and churn-intent phrases, read once at start ('builtin': the starter lexicon "
        "shipped in cxpulse/data/lexicons.toml; empty: no conversation insights)",
    )
    spike_factor: float = Field(
        3.0, ge=1, description="a competitor or churn-intent window spikes above this x baseline"
    )
    spike_min_mentions: int = Field(
        8, ge=1, description="fewest mentions in one window that can make a spike"
    )
    spike_min_windows: int = Field(
        3, ge=0, description="windows of history a mention baseline needs before it can spike"
    )
    rule_friction_threshold: float = Field(
        40.0, ge=0, le=100, description="rule friction (0-100) at or above which to alert"
    )
    rule_min_samples: int = Field(
        10, ge=1, description="applications of a rule in one window before its friction counts"
    )

    @field_validator("adapter_sources")
    @classmethod
    def _known_adapters(cls, value: str) -> str:
        unknown = [name for name in _split(value) if name not in ADAPTERS]
        if unknown:
            raise ValueError(f"unknown adapter(s) {unknown}; known: {', '.join(ADAPTERS)}")
        return value

    def enabled_adapters(self) -> tuple[str, ...]:
        return _split(self.adapter_sources)

    def raw_topic(self, source: str) -> str:
        return f"{self.raw_topic_prefix}{source}"

    def scoring_config(self) -> ScoringConfig:
        """The scoring model's parameters: these settings, defaults for the rest.

        Entities merge one time-ordered lane per partition of the events topic.  The
        lexicon file is read here: call it once at start (``LexiconError`` if it is bad).
        """
        names = type(self).model_fields
        return ScoringConfig(
            **{f.name: getattr(self, f.name) for f in fields(ScoringConfig) if f.name in names},
            lanes=self.partitions,
            lexicon=load_lexicon(self.lexicon_file),
        )

    # --- notify (Alertmanager) ---------------------------------------------------------
    # `cxpulse notify`: reads the alerts topic and posts each alert to Alertmanager.
    alertmanager_url: str = Field(
        "http://127.0.0.1:9095",
        description="Alertmanager base URL(s), comma separated: every one gets each alert "
        "(an HA pair); an alert counts as delivered once one of them accepted it",
    )
    alertmanager_timeout_s: float = Field(
        10.0, gt=0, le=300, description="longest wait for Alertmanager to answer one request"
    )
    alertmanager_username: str | None = Field(
        None, description="basic-auth user name for Alertmanager"
    )
    alertmanager_password: SecretStr | None = Field(
        None, description="basic-auth password for Alertmanager (prefer the _FILE variant)"
    )
    alertmanager_password_file: Path | None = Field(
        None, description="file holding the Alertmanager basic-auth password, read at startup"
    )
    alertmanager_bearer_token: SecretStr | None = Field(
        None, description="bearer token for Alertmanager (prefer the _FILE variant)"
    )
    alertmanager_bearer_token_file: Path | None = Field(
        None, description="file holding the Alertmanager bearer token, read at startup"
    )
    alertmanager_ca_file: Path | None = Field(
        None, description="PEM CA bundle that signed Alertmanager's certificate (https URLs)"
    )
    notify_resend_interval_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="firing alerts are sent again this often until resolved or expired",
    )
    notify_firing_expiry_hours: float = Field(
        24.0,
        gt=0,
        description="a firing alert with no update for this long is no longer re-sent "
        "(Alertmanager then resolves it); older records are not sent at all",
    )
    notify_retry_max_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="longest pause between two retries while Alertmanager is down",
    )
    notify_web_host: str = Field(
        "127.0.0.1", description="bind address of cxpulse notify's /metrics, /healthz, /readyz"
    )
    notify_web_port: int = Field(
        6067, ge=1, le=65535, description="port of cxpulse notify's /metrics, /healthz, /readyz"
    )
    grafana_url: str = Field(
        "http://127.0.0.1:3000",
        description="Grafana base URL, for the dashboard link in each alert (empty: no link)",
    )

    def alertmanager_urls(self) -> tuple[str, ...]:
        return tuple(url.rstrip("/") for url in _split(self.alertmanager_url))

    @field_validator("alertmanager_url")
    @classmethod
    def _check_alertmanager_urls(cls, value: str) -> str:
        urls = _split(value)
        if not urls:
            raise ValueError(f"{_env('alertmanager_url')} names no URL")
        for url in urls:
            if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
                raise ValueError(f"{_env('alertmanager_url')}: {url!r} is not an http(s) URL")
        return value

    @model_validator(mode="before")
    @classmethod
    def _read_notify_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            notify_secrets = ("alertmanager_password", "alertmanager_bearer_token")
            for field in (*notify_secrets, "alertmanager_username", "alertmanager_ca_file"):
                for name in (field, f"{field}_file"):  # `CXPULSE_..._FILE=` means "not set"
                    if data.get(name) == "":
                        data[name] = None
            secrets.mask_in_place(data, notify_secrets)
            for field in notify_secrets:
                secrets.resolve_secret_file(data, field, f"{field}_file", ENV_PREFIX)
        return data

    @model_validator(mode="after")
    def _check_notify_auth(self) -> Self:
        problems = []
        if self.alertmanager_bearer_token and (
            self.alertmanager_username or self.alertmanager_password
        ):
            problems.append(
                f"set {_env('alertmanager_bearer_token')} or basic auth "
                f"({_env('alertmanager_username')}), not both"
            )
        if bool(self.alertmanager_username) != bool(self.alertmanager_password):
            problems.append(
                f"basic auth needs both {_env('alertmanager_username')} and "
                f"{_env('alertmanager_password')} (or {_env('alertmanager_password_file')})"
            )
        problems.extend(_file_problems({"alertmanager_ca_file": self.alertmanager_ca_file}))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # --- end notify ----------------------------------------------------------------------

    # --- HTTP API (cxpulse gateway) ------------------------------------------------------
    # `cxpulse gateway`: POST /v1/events and /v1/webhooks/<source> into Kafka, score lookup
    # from the scores and alerts topics.  docs/api.md.
    api_host: str = Field("127.0.0.1", description="bind address of cxpulse gateway")
    api_port: int = Field(6068, ge=1, le=65535, description="port of cxpulse gateway")
    api_keys_sha256: str = Field(
        "",
        description="API keys of /v1/events and the lookups, as comma separated SHA-256 hex "
        "digests of the keys (empty: every such request is refused)",
    )
    api_max_body_bytes: int = Field(
        1_048_576, ge=1_024, le=67_108_864, description="larger request bodies get 413"
    )
    api_rate_per_s: float = Field(
        100.0, gt=0, description="requests per second allowed to one API key or webhook source"
    )
    api_rate_burst: int = Field(
        200, ge=1, description="requests one API key or webhook source may make at once"
    )
    api_kafka_timeout_s: float = Field(
        10.0,
        gt=0,
        le=120,
        description="longest wait for Kafka to acknowledge a request's records; then 503 "
        "(Twilio gives a webhook 15 s)",
    )
    api_retry_after_s: int = Field(
        5, ge=1, le=3600, description="Retry-After of a 503 answer, in seconds"
    )
    api_public_url: str = Field(
        "",
        description="scheme://host[:port] the platforms call (behind a proxy); Twilio signs "
        "that URL (empty: the URL of the request as received)",
    )
    api_tls_certfile: Path | None = Field(
        None, description="PEM certificate (chain) to serve HTTPS directly"
    )
    api_tls_keyfile: Path | None = Field(None, description="PEM private key of that certificate")
    api_twilio_auth_token: SecretStr | None = Field(
        None,
        description="Twilio auth token that signs X-Twilio-Signature (prefer the _FILE variant)",
    )
    api_twilio_auth_token_file: Path | None = Field(
        None, description="file holding the Twilio auth token, read at startup"
    )
    api_zendesk_webhook_secret: SecretStr | None = Field(
        None, description="Zendesk webhook signing secret (prefer the _FILE variant)"
    )
    api_zendesk_webhook_secret_file: Path | None = Field(
        None, description="file holding the Zendesk webhook signing secret, read at startup"
    )
    api_zendesk_max_age_s: float = Field(
        300.0, gt=0, le=3600, description="Zendesk webhooks signed longer ago than this get 401"
    )
    api_webhook_key_header: str = Field(
        "X-Cxpulse-Webhook-Key",
        description="header that carries the key of the API-key webhooks (EventBridge API "
        "destinations, Genesys Cloud)",
    )
    api_webhook_key_amazon_connect_ctr: SecretStr | None = Field(
        None, description="webhook key of amazon-connect-ctr (prefer the _FILE variant)"
    )
    api_webhook_key_amazon_connect_ctr_file: Path | None = Field(
        None, description="file holding the webhook key of amazon-connect-ctr"
    )
    api_webhook_key_amazon_connect_events: SecretStr | None = Field(
        None, description="webhook key of amazon-connect-events (prefer the _FILE variant)"
    )
    api_webhook_key_amazon_connect_events_file: Path | None = Field(
        None, description="file holding the webhook key of amazon-connect-events"
    )
    api_webhook_key_genesys_cloud: SecretStr | None = Field(
        None, description="webhook key of genesys-cloud (prefer the _FILE variant)"
    )
    api_webhook_key_genesys_cloud_file: Path | None = Field(
        None, description="file holding the webhook key of genesys-cloud"
    )
    api_lookup: bool = Field(
        True,
        description="serve the lookups from the scores and alerts topics, read into memory "
        "at start (off: the lookups answer 404 and nothing is read)",
    )

    @field_validator("api_keys_sha256")
    @classmethod
    def _check_api_key_hashes(cls, value: str) -> str:
        for digest in _split(value):
            if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
                raise ValueError(
                    f"{_env('api_keys_sha256')}: {digest[:8]}... is not a SHA-256 hex digest "
                    "(64 hex digits)"
                )
        return value

    def api_key_hashes(self) -> tuple[bytes, ...]:
        """The configured /v1/events key digests, as raw bytes."""
        return tuple(bytes.fromhex(digest) for digest in _split(self.api_keys_sha256))

    @model_validator(mode="before")
    @classmethod
    def _read_api_secrets(cls, data: Any) -> Any:
        api_secrets = (
            "api_twilio_auth_token",
            "api_zendesk_webhook_secret",
            "api_webhook_key_amazon_connect_ctr",
            "api_webhook_key_amazon_connect_events",
            "api_webhook_key_genesys_cloud",
        )
        if isinstance(data, dict):
            for field in (*api_secrets, "api_tls_certfile", "api_tls_keyfile"):
                for name in (field, f"{field}_file"):  # `CXPULSE_..._FILE=` means "not set"
                    if data.get(name) == "":
                        data[name] = None
            secrets.mask_in_place(data, api_secrets)
            for field in api_secrets:
                secrets.resolve_secret_file(data, field, f"{field}_file", ENV_PREFIX)
        return data

    @model_validator(mode="after")
    def _check_api_tls(self) -> Self:
        problems = []
        if bool(self.api_tls_certfile) != bool(self.api_tls_keyfile):
            problems.append(
                f"HTTPS needs both {_env('api_tls_certfile')} and {_env('api_tls_keyfile')}"
            )
        if self.api_public_url and not re.fullmatch(r"https?://[^\s/]+", self.api_public_url):
            problems.append(
                f"{_env('api_public_url')}: {self.api_public_url!r} is not scheme://host[:port]"
            )
        problems.extend(
            _file_problems(
                {"api_tls_certfile": self.api_tls_certfile, "api_tls_keyfile": self.api_tls_keyfile}
            )
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # --- end HTTP API ----------------------------------------------------------------------

    # --- security ----------------------------------------------------------------------
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka transport: TLS (SSL), SASL login, both (SASL_SSL), none"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism the Kafka listener enables"
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (prefer the _FILE variant)"
    )
    kafka_sasl_password_file: Path | None = Field(
        None, description="file holding the SASL password, read at startup"
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM CA bundle that signed the broker certificate (default: system CAs)"
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM client certificate, for brokers that require mutual TLS"
    )
    kafka_ssl_keyfile: Path | None = Field(
        None, description="PEM private key of the client certificate"
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="password of an encrypted client key"
    )
    kafka_ssl_check_hostname: bool = Field(
        True, description="check that the broker certificate names the host connected to"
    )
    pseudonymise_customer_ids: bool = Field(
        False, description="replace customer ids in outputs by keyed HMAC-SHA256 pseudonyms"
    )
    pseudonym_key: SecretStr | None = Field(
        None, description="HMAC key of the pseudonyms, 16+ bytes (prefer the _FILE variant)"
    )
    pseudonym_key_file: Path | None = Field(
        None, description="file holding the pseudonym key, read at startup"
    )
    redact_extra_patterns: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="extra regexes to redact from output text, comma separated"
    )

    @field_validator("redact_extra_patterns", mode="before")
    @classmethod
    def _split_patterns(cls, value: Any) -> Any:
        return split_patterns(value) if isinstance(value, str) else value

    @field_validator("redact_extra_patterns")
    @classmethod
    def _compile_patterns(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{_env('redact_extra_patterns')}: {pattern!r}: {exc}") from None
        return patterns

    @model_validator(mode="before")
    @classmethod
    def _read_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for field in UNSET_WHEN_EMPTY:  # `CXPULSE_KAFKA_SSL_CAFILE=` means "not set"
                if data.get(field) == "":
                    data[field] = None
            secrets.mask_in_place(data, SECRET_FIELDS)
            for field in ("kafka_sasl_password", "pseudonym_key"):
                secrets.resolve_secret_file(data, field, f"{field}_file", ENV_PREFIX)
        return data

    @model_validator(mode="before")
    @classmethod
    def _refuse_retired(cls, data: Any) -> Any:
        for field, successor in RETIRED.items():
            if _env(field) in os.environ:
                raise ValueError(f"{_env(field)} is no longer read: {successor}")
        return data

    @model_validator(mode="after")
    def _check_security(self) -> Self:
        problems = security_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


#: Settings no longer read, and what took their place: setting one is an error, not a no-op.
RETIRED = {
    "rocksdb_cache_mb": f"set {ENV_PREFIX}ROCKSDB_MEMORY_MB, one budget for the whole worker",
    "idle_lane_hours": "a window now waits for every partition of the events topic, whose "
    "progress reaches the entity scorers with every summaries record (docs/scoring.md, "
    "section 6); unset it",
}
SECRET_FIELDS = ("kafka_sasl_password", "kafka_ssl_key_password", "pseudonym_key")
UNSET_WHEN_EMPTY = (
    *SECRET_FIELDS,
    "kafka_sasl_username",
    "kafka_sasl_password_file",
    "kafka_ssl_cafile",
    "kafka_ssl_certfile",
    "kafka_ssl_keyfile",
    "pseudonym_key_file",
)
MIN_PSEUDONYM_KEY_BYTES = 16


def _env(field: str) -> str:
    return ENV_PREFIX + field.upper()


def split_patterns(text: str) -> tuple[str, ...]:
    """Split at commas outside ``()``, ``[]`` and ``{}``, so ``\\d{2,4}`` stays one regex."""
    patterns: list[str] = []
    depth, start, escaped = 0, 0, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0:
            patterns.append(text[start:index])
            start = index + 1
    patterns.append(text[start:])
    return tuple(pattern.strip() for pattern in patterns if pattern.strip())


def security_problems(settings: Settings) -> list[str]:
    """Inconsistent security settings, each as a sentence naming the variables to fix."""
    problems: list[str] = []
    protocol = settings.kafka_security_protocol
    protocol_env = f"{_env('kafka_security_protocol')}={protocol}"
    sasl = protocol.startswith("SASL_")
    has_login = settings.kafka_sasl_username or settings.kafka_sasl_password
    if sasl and not (settings.kafka_sasl_username and settings.kafka_sasl_password):
        problems.append(
            f"{protocol_env} needs {_env('kafka_sasl_username')} and "
            f"{_env('kafka_sasl_password')} (or {_env('kafka_sasl_password_file')})"
        )
    if not sasl and has_login:
        problems.append(
            f"a SASL user or password is set but {protocol_env} does not log in: "
            "use SASL_SSL (or SASL_PLAINTEXT)"
        )
    tls_files = {
        "kafka_ssl_cafile": settings.kafka_ssl_cafile,
        "kafka_ssl_certfile": settings.kafka_ssl_certfile,
        "kafka_ssl_keyfile": settings.kafka_ssl_keyfile,
    }
    if not protocol.endswith("SSL") and any(tls_files.values()):
        problems.append(
            f"TLS files are set but {protocol_env} does not use TLS: use SSL or SASL_SSL"
        )
    problems.extend(_file_problems(tls_files))
    if settings.kafka_ssl_keyfile and not settings.kafka_ssl_certfile:
        problems.append(f"{_env('kafka_ssl_keyfile')} needs {_env('kafka_ssl_certfile')}")
    if settings.kafka_ssl_key_password and not settings.kafka_ssl_certfile:
        problems.append(f"{_env('kafka_ssl_key_password')} needs {_env('kafka_ssl_certfile')}")
    key = settings.pseudonym_key
    if settings.pseudonymise_customer_ids and key is None:
        problems.append(
            f"{_env('pseudonymise_customer_ids')}=true needs {_env('pseudonym_key')} "
            f"(or {_env('pseudonym_key_file')})"
        )
    if key is not None and len(key.get_secret_value().encode()) < MIN_PSEUDONYM_KEY_BYTES:
        problems.append(f"{_env('pseudonym_key')} must be at least {MIN_PSEUDONYM_KEY_BYTES} bytes")
    return problems


def _file_problems(files: dict[str, Path | None]) -> list[str]:
    problems = []
    for field, path in files.items():
        if path is None:
            continue
        try:
            secrets.require_readable_file(path, _env(field))
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def _split(names: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in names.split(",") if name.strip())


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _metavar(annotation: Any) -> str:
    return "N" if annotation is int else "X"


def _arg_type(info: FieldInfo) -> dict[str, Any]:
    annotation = info.annotation
    if get_origin(annotation) is Literal:
        return {"choices": list(get_args(annotation))}
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    if annotation in (int, float):
        return {"type": annotation, "metavar": _metavar(annotation)}
    return {"type": str, "metavar": "TEXT"}


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
