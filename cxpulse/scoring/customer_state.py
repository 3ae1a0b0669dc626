"""Everything cxpulse remembers about one customer, as compact JSON for a changelog table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from cxpulse.scoring import compact_json
from cxpulse.scoring.assembly import DoneInteraction, OpenInteraction
from cxpulse.scoring.dazzle import NEUTRAL
from cxpulse.scoring.friction import RuleHit
from cxpulse.scoring.moments import DecayedMoments


@dataclass
class CustomerState:
    customer_id: str
    #: Latest event time seen for this customer.
    watermark_us: int = 0
    #: Recent event ids -> event time, oldest first (deduplication).
    seen: dict[str, int] = field(default_factory=dict)
    open: dict[str, OpenInteraction] = field(default_factory=dict)
    #: Recently finished contacts, kept for the feedback grace period.
    done: dict[str, DoneInteraction] = field(default_factory=dict)
    #: Last contact that ended unresolved or abandoned (for repeat contacts).
    unfinished_us: int | None = None
    unfinished_event: str | None = None
    #: The service whose broken promise left that contact unfinished: a repeat contact
    #: inherits it as the cause of its own failure (an outage's aftermath).
    unfinished_service: str | None = None
    # dazzle / de-dazzle
    balance: float = 0.0
    balance_us: int = 0
    loyalty: str = NEUTRAL
    last_dazzle_event: str | None = None
    # report card
    last_f_us: int | None = None
    #: Times of the customer's latest own failures (a broken promise of no service, a
    #: failed repeat contact), at most ``repeat_failure_min`` (repeat_failure counts them).
    own_failures_us: list[int] = field(default_factory=list)
    last_a_us: int | None = None
    graded: int = 0
    # consistency
    moments: DecayedMoments = field(default_factory=dict)
    moments_us: int = 0
    consistency: float | None = None
    interactions: int = 0
    #: Alert kind -> event time of the last alert of that kind.
    cooldowns: dict[str, int] = field(default_factory=dict)
    #: Relationship cues heard in conversations, latest first (docs/intelligence.md).
    cues: list[str] = field(default_factory=list)
    #: Recent blocked or redirected rule applications, to spot the repeat contact.
    rule_hits: list[RuleHit] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        return compact_json.dumps(self)

    @classmethod
    def from_bytes(cls, raw: bytes) -> CustomerState:
        fields: dict[str, Any] = orjson.loads(raw)
        fields["open"] = {key: OpenInteraction(**value) for key, value in fields["open"].items()}
        fields["done"] = {key: DoneInteraction(**value) for key, value in fields["done"].items()}
        fields["rule_hits"] = [RuleHit(**hit) for hit in fields.get("rule_hits", ())]
        return cls(**fields)
