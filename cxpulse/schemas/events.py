"""The v1 input contract: one JSON event per Kafka message.

Every event shares an envelope (``event_id``, ``type``, ``occurred_at``, ``customer_id`` and
optional routing fields); the type-specific fields sit beside it, flat, so producers write
one plain object.  ``Event`` is a discriminated union on ``type``: validation picks the model
from the tag, and an unknown tag is an error that names the tag.

Unknown extra fields are ignored (producers may add fields before we do); values outside
their documented range are errors, not clamps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = 1

#: Event times outside this range are treated as producer bugs ("absurd values").
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC)

#: One contact never lasts longer than this; larger durations are producer bugs.
MAX_DURATION_SECONDS = 7 * 24 * 3600.0

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")]
Seconds = Annotated[float, Field(ge=0, le=MAX_DURATION_SECONDS, allow_inf_nan=False)]
ShortText = Annotated[str, Field(max_length=2_000)]
LongText = Annotated[str, Field(max_length=20_000)]


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    EMAIL = "email"
    SMS = "sms"
    SOCIAL = "social"
    VIDEO = "video"
    SELF_SERVICE = "self_service"


class Outcome(StrEnum):
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"
    ABANDONED = "abandoned"
    ESCALATED = "escalated"


class PromiseKind(StrEnum):
    """What part of the core service a promise is about (seed 004)."""

    OUTAGE = "outage"
    MISSED_CALLBACK = "missed_callback"
    BILLING_ERROR = "billing_error"
    LATE_DELIVERY = "late_delivery"
    WRONG_ORDER = "wrong_order"
    OTHER = "other"


class DazzleKind(StrEnum):
    PROACTIVE_OUTREACH = "proactive_outreach"
    GOODWILL = "goodwill"
    PERSONALISED_HELP = "personalised_help"
    COMPLIMENT = "compliment"
    OTHER = "other"


class PolicyEffect(StrEnum):
    BLOCKED = "blocked"
    REDIRECTED = "redirected"
    ALLOWED = "allowed"


class Speaker(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"


class NoteAuthor(StrEnum):
    TRANSCRIPT = "transcript"
    AGENT = "agent"
    CUSTOMER = "customer"


class EventBase(BaseModel):
    """The envelope every v1 event carries."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    event_id: Id
    occurred_at: AwareDatetime = Field(description="RFC 3339 event time, with offset")
    customer_id: Id
    channel: Channel | None = None
    queue_id: Id | None = None
    agent_id: Id | None = None
    source: Id | None = None

    @field_validator("occurred_at")
    @classmethod
    def _plausible_time(cls, value: datetime) -> datetime:
        # Converted first: datetimes that share the ``UTC`` object compare without the
        # ``utcoffset()`` calls that pydantic's own tzinfo costs on every comparison.
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        if not EARLIEST_EVENT_TIME <= utc < LATEST_EVENT_TIME:
            raise ValueError(
                f"occurred_at {value.isoformat()} is outside "
                f"[{EARLIEST_EVENT_TIME.year}, {LATEST_EVENT_TIME.year})"
            )
        return utc


class InteractionScoped(EventBase):
    """Events that belong to one contact must name it."""

    interaction_id: Id


class InteractionStarted(InteractionScoped):
    type: Literal["interaction.started"]
    direction: Literal["inbound", "outbound"] = "inbound"


class InteractionConnected(InteractionScoped):
    type: Literal["interaction.connected"]
    wait_seconds: Seconds | None = Field(None, description="queue wait before an agent answered")


class InteractionHeld(InteractionScoped):
    type: Literal["interaction.held"]
    hold_seconds: Seconds | None = None


class InteractionTransferred(InteractionScoped):
    type: Literal["interaction.transferred"]
    to_queue_id: Id | None = None
    to_agent_id: Id | None = None


class InteractionEnded(InteractionScoped):
    type: Literal["interaction.ended"]
    outcome: Outcome
    wait_seconds: Seconds | None = None
    handle_seconds: Seconds | None = None
    hold_seconds: Seconds | None = None
    transfers: Annotated[int, Field(ge=0, le=100)] | None = None


class FeedbackReceived(InteractionScoped):
    type: Literal["feedback.received"]
    csat: Annotated[int, Field(ge=1, le=5)] | None = None
    nps: Annotated[int, Field(ge=0, le=10)] | None = None
    effort: (
        Annotated[int, Field(ge=1, le=7, description="customer effort, 1 = effortless")] | None
    ) = None
    comment: LongText | None = None

    @model_validator(mode="after")
    def _has_a_rating(self) -> FeedbackReceived:
        if self.csat is None and self.nps is None and self.effort is None and not self.comment:
            raise ValueError("feedback.received needs at least one of csat, nps, effort, comment")
        return self


class SentimentObserved(InteractionScoped):
    type: Literal["sentiment.observed"]
    score: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]
    who: Speaker = Speaker.CUSTOMER


class PromiseEvent(EventBase):
    """The core service (seed 004): it works as promised, or it does not."""

    interaction_id: Id | None = None
    promise: PromiseKind = PromiseKind.OTHER
    service_id: Id | None = None
    description: ShortText | None = None


class PromiseBroken(PromiseEvent):
    type: Literal["service.promise_broken"]


class PromiseKept(PromiseEvent):
    type: Literal["service.promise_kept"]


class ExperienceDazzle(EventBase):
    type: Literal["experience.dazzle"]
    interaction_id: Id | None = None
    kind: DazzleKind = DazzleKind.OTHER
    description: ShortText | None = None


class PolicyApplied(EventBase):
    type: Literal["policy.applied"]
    interaction_id: Id | None = None
    rule_id: Id
    effect: PolicyEffect


class ConversationNote(InteractionScoped):
    type: Literal["conversation.note"]
    text: Annotated[LongText, Field(min_length=1)]
    author: NoteAuthor = NoteAuthor.TRANSCRIPT


Event = Annotated[
    InteractionStarted
    | InteractionConnected
    | InteractionHeld
    | InteractionTransferred
    | InteractionEnded
    | FeedbackReceived
    | SentimentObserved
    | PromiseBroken
    | PromiseKept
    | ExperienceDazzle
    | PolicyApplied
    | ConversationNote,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_TYPES: tuple[str, ...] = (
    "interaction.started",
    "interaction.connected",
    "interaction.held",
    "interaction.transferred",
    "interaction.ended",
    "feedback.received",
    "sentiment.observed",
    "service.promise_broken",
    "service.promise_kept",
    "experience.dazzle",
    "policy.applied",
    "conversation.note",
)


def parse_event(raw: bytes | str) -> Event:
    """Validate one JSON document; raises ``pydantic.ValidationError``."""
    return EVENT_ADAPTER.validate_json(raw)


def event_to_json(event: Event) -> bytes:
    """Canonical JSON of an event (``None`` fields left out)."""
    return event.model_dump_json(exclude_none=True).encode()
