"""What cxpulse publishes: alerts, score snapshots, insights and dead letters."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cxpulse.schemas.events import SCHEMA_VERSION


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    """Where an alert's condition stands: Alertmanager, PagerDuty and CRM queues track both."""

    FIRING = "firing"
    RESOLVED = "resolved"


class EntityType(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    QUEUE = "queue"
    SERVICE = "service"
    RULE = "rule"
    COMPETITOR = "competitor"


class Output(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self)


class Alert(Output):
    """One thing an ops team should look at, explained in one sentence.

    ``alert_id`` is a hash of what triggered it (kind, entity, triggering event), so a
    replay or a restart that re-derives the same alert produces the same id.
    """

    alert_id: str
    kind: str
    severity: Severity
    entity_type: EntityType
    entity_id: str
    occurred_at: AwareDatetime = Field(description="event time of the triggering event")
    reason: str
    scores: dict[str, float] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)
    evidence: list[str] = Field(default_factory=list, description="event ids behind the alert")
    group_key: str = Field(
        "",
        description="the incident or condition the alert belongs to: every update and the "
        "resolution of one condition share it",
    )
    status: AlertStatus = Field(
        AlertStatus.FIRING, description="firing, or resolved: the condition has cleared"
    )


class ScoreSnapshot(Output):
    """The scores of one entity right after an event changed them."""

    entity_type: EntityType
    entity_id: str
    as_of: AwareDatetime
    event_id: str = Field(description="the event that produced this snapshot")
    scores: dict[str, float] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict, description="grade, loyalty state, …")


class Insight(Output):
    """One piece of conversation intelligence (seed 001)."""

    insight_id: str
    kind: str
    term: str
    customer_id: str
    interaction_id: str | None = None
    occurred_at: AwareDatetime
    snippet: str
    sentiment: float | None = None
    event_id: str


class DeadLetterSource(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str
    partition: int
    offset: int
    key_b64: str | None = None
    timestamp_ms: int | None = None


class DeadLetterError(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(description="stable machine code, e.g. invalid_json, unknown_type")
    message: str = Field(description="human sentence naming the problem")
    details: list[str] = Field(default_factory=list)


class DeadLetter(Output):
    """An input that could not be used, kept whole so nothing is lost.

    ``payload_b64`` is the exact original bytes; ``payload_preview`` is a short lossy text
    rendering for humans.
    """

    stage: str = Field(description="where it was rejected: ingest, adapter:<source>, …")
    error: DeadLetterError
    source: DeadLetterSource
    payload_b64: str
    payload_preview: Annotated[str, Field(max_length=1_200)]
    payload_size: int
    rejected_at: datetime | None = Field(
        None, description="wall-clock time of rejection (operational metadata only)"
    )
