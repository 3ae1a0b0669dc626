"""What the customer scorer tells the agent, queue and service scorers.

A summary is emitted at the event that made it final, and its ``occurred_at_us`` is that
event's time, so summaries reach the entity scorers in (nearly) event-time order:

- ``interaction``: a finished contact (at ``interaction.ended``, or at the customer's first
  event after the contact timed out);
- ``followup``: feedback or customer sentiment that arrived after the contact ended, within
  the feedback grace period (it only carries the new ratings);
- ``promise``: a ``service.promise_kept`` / ``service.promise_broken`` for a service;
- ``mention``: a competitor (``term``) or churn intent named in a note or comment;
- ``rule``: a ``policy.applied`` (``rule_id``, ``effect``);
- ``rule_repeat``: the customer contacted again within the repeat window after a rule
  blocked or redirected them;
- ``rule_dedazzle``: the contact in which a rule blocked or redirected ended graded F;
- ``held``: a customer's alert (``held_alert``, JSON) the queue publishes when its window
  closes, unless the queue's incident folds it (``entity.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

INTERACTION = "interaction"
FOLLOWUP = "followup"
PROMISE = "promise"
MENTION = "mention"
RULE = "rule"
RULE_REPEAT = "rule_repeat"
RULE_DEDAZZLE = "rule_dedazzle"
HELD = "held"


@dataclass(frozen=True, slots=True)
class InteractionSummary:
    summary_id: str = ""
    kind: str = INTERACTION
    event_id: str = ""
    customer_id: str = ""
    occurred_at_us: int = 0
    interaction_id: str | None = None
    started_at_us: int | None = None
    channel: str | None = None
    queue_id: str | None = None
    agent_id: str | None = None
    service_id: str | None = None
    outcome: str | None = None
    wait_seconds: float | None = None
    handle_seconds: float | None = None
    hold_seconds: float | None = None
    transfers: int | None = None
    repeat: bool = False
    csat: int | None = None
    effort: int | None = None
    nps: int | None = None
    sentiment: float | None = None
    grade: str | None = None
    grade_reason: str | None = None
    promise_kept: bool | None = None
    term: str | None = None
    rule_id: str | None = None
    effect: str | None = None
    evidence: tuple[str, ...] = ()
    held_alert: str | None = None

    def to_bytes(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_bytes(cls, raw: bytes) -> InteractionSummary:
        return cls._from_fields(orjson.loads(raw))

    @classmethod
    def many_from_bytes(cls, raw: bytes) -> list[InteractionSummary]:
        """The summaries of a JSON array of them (a bundle), or of a single one."""
        loaded: list[dict[str, Any]] | dict[str, Any] = orjson.loads(raw)
        if isinstance(loaded, dict):
            return [cls._from_fields(loaded)]
        return [cls._from_fields(fields) for fields in loaded]

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> InteractionSummary:
        fields["evidence"] = tuple(fields["evidence"])
        return cls(**fields)

    @property
    def sort_key(self) -> tuple[int, str]:
        return (self.occurred_at_us, self.summary_id)
