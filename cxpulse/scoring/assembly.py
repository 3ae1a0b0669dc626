"""Interaction assembly: lifecycle events of one contact fold into one open record.

The record lives in the customer's state until ``interaction.ended`` (or a timeout) turns
it into an ``InteractionSummary``.  Routing fields (channel, queue, agent) take the latest
non-empty value, so a transferred contact is credited to the queue and agent that ended it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.report_card import InteractionFacts, grade_interaction
from cxpulse.scoring.summary import INTERACTION, InteractionSummary

#: Outcome of a contact closed by timeout after an agent had answered it.
UNKNOWN_OUTCOME = "unknown"
ABANDONED = "abandoned"


@dataclass
class OpenInteraction:
    interaction_id: str
    opened_us: int
    channel: str | None = None
    queue_id: str | None = None
    agent_id: str | None = None
    started: bool = False
    connected: bool = False
    repeat: bool = False
    wait: float | None = None
    handle: float | None = None
    hold: float = 0.0
    transfers: int = 0
    sentiment_sum: float = 0.0
    sentiment_n: int = 0
    csat: int | None = None
    nps: int | None = None
    effort: int | None = None
    broken_promise: str | None = None
    #: The service whose broken promise is behind the contact: one that broke during it, or
    #: during the unfinished contact it repeats.
    broken_service: str | None = None
    dazzle: str | None = None
    policy_blocked: bool = False
    #: Rules that blocked or redirected the customer in this contact.
    rules: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


@dataclass
class DoneInteraction:
    """What a late feedback needs to know about a finished contact."""

    ended_us: int
    grade: str
    policy_blocked: bool = False
    channel: str | None = None
    queue_id: str | None = None
    agent_id: str | None = None


def add_evidence(record: OpenInteraction, event_id: str, config: ScoringConfig) -> None:
    if len(record.evidence) < config.evidence_max:
        record.evidence.append(event_id)


def route(record: OpenInteraction | DoneInteraction, event: Any) -> None:
    """Take the event's routing fields where it has them."""
    if event.channel is not None:
        record.channel = event.channel.value
    if event.queue_id is not None:
        record.queue_id = event.queue_id
    if event.agent_id is not None:
        record.agent_id = event.agent_id


def _connected(record: OpenInteraction, event: Any) -> None:
    record.connected = True
    if event.wait_seconds is not None:
        record.wait = event.wait_seconds


def _held(record: OpenInteraction, event: Any) -> None:
    if event.hold_seconds is not None:
        record.hold += event.hold_seconds


def _transferred(record: OpenInteraction, event: Any) -> None:
    record.transfers += 1
    if event.to_queue_id is not None:
        record.queue_id = event.to_queue_id
    if event.to_agent_id is not None:
        record.agent_id = event.to_agent_id


def _ended(record: OpenInteraction, event: Any) -> None:
    """The ended event is authoritative for the durations and transfers it carries."""
    if event.wait_seconds is not None:
        record.wait = event.wait_seconds
    if event.handle_seconds is not None:
        record.handle = event.handle_seconds
        record.connected = True
    if event.hold_seconds is not None:
        record.hold = event.hold_seconds
    if event.transfers is not None:
        record.transfers = event.transfers


def _feedback(record: OpenInteraction, event: Any) -> None:
    record.csat = event.csat if event.csat is not None else record.csat
    record.nps = event.nps if event.nps is not None else record.nps
    record.effort = event.effort if event.effort is not None else record.effort


def _sentiment(record: OpenInteraction, event: Any) -> None:
    record.sentiment_sum += event.score
    record.sentiment_n += 1


_FOLDS: dict[str, Callable[[OpenInteraction, Any], None]] = {
    "interaction.connected": _connected,
    "interaction.held": _held,
    "interaction.transferred": _transferred,
    "interaction.ended": _ended,
    "feedback.received": _feedback,
    "sentiment.observed": _sentiment,
}


def fold(record: OpenInteraction, event: Any, at_us: int, config: ScoringConfig) -> None:
    """Fold one event of the contact into its record (notes only add evidence)."""
    route(record, event)
    if event.type == "interaction.started":
        record.started = True
        record.opened_us = min(record.opened_us, at_us)
    else:
        apply = _FOLDS.get(event.type)
        if apply is not None:
            apply(record, event)
    add_evidence(record, event.event_id, config)


def summarise(
    record: OpenInteraction,
    outcome: str | None,
    *,
    customer_id: str,
    trigger_id: str,
    at_us: int,
    config: ScoringConfig,
) -> InteractionSummary:
    """The finished contact; ``outcome`` is None when it was closed by timeout."""
    if outcome is None:
        outcome = UNKNOWN_OUTCOME if record.connected else ABANDONED
    served = record.connected and outcome != ABANDONED
    grade, reason = grade_interaction(
        InteractionFacts(
            outcome=outcome,
            repeat=record.repeat,
            broken_promise=record.broken_promise is not None,
            dazzled=record.dazzle is not None,
            policy_blocked=record.policy_blocked,
            csat=record.csat,
            nps=record.nps,
            effort=record.effort,
        ),
        config,
    )
    evidence = record.evidence
    if trigger_id not in evidence:
        evidence = [*evidence[: config.evidence_max - 1], trigger_id]
    return InteractionSummary(
        summary_id=f"{trigger_id}/{record.interaction_id}",
        kind=INTERACTION,
        event_id=trigger_id,
        customer_id=customer_id,
        occurred_at_us=at_us,
        interaction_id=record.interaction_id,
        started_at_us=record.opened_us,
        channel=record.channel,
        queue_id=record.queue_id,
        agent_id=record.agent_id,
        service_id=record.broken_service,
        outcome=outcome,
        wait_seconds=record.wait,
        handle_seconds=record.handle,
        hold_seconds=record.hold if served else None,
        transfers=record.transfers if served else None,
        repeat=record.repeat,
        csat=record.csat,
        effort=record.effort,
        nps=record.nps,
        sentiment=record.sentiment_sum / record.sentiment_n if record.sentiment_n else None,
        grade=grade,
        grade_reason=reason,
        evidence=tuple(evidence),
    )
