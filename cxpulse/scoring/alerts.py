"""Alert policy: kinds, severities, tiers, group keys, deterministic ids and per (kind,
entity) cooldown.

``alert_id`` hashes what triggered the alert (kind, entity, and the triggering event id or
the window start, and whether it resolves), never an arrival order or a wall clock:
re-deriving an alert after a restart or in a replay gives the same id.

An alert is a request for a person's time.  The kinds of ``NOTICES`` (good news and
context) are severity ``info``: they are published apart from the alerts (the notices
topic), which carry only what someone should act on (docs/scoring.md, "Alert kinds").
``group_key`` names the condition an alert belongs to: every update of one incident and its
resolution share it, so Alertmanager, PagerDuty or a CRM queue can track it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from cxpulse.schemas.outputs import Alert, AlertStatus, EntityType, ScoreSnapshot, Severity
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.eventtime import from_us

JEOPARDY = "jeopardy"
LOST = "lost"
RECOVERED = "recovered"
CORE_SERVICE_FAILURE = "core_service_failure"
REPEAT_FAILURE = "repeat_failure"
UNPREDICTABLE_EXPERIENCE = "unpredictable_experience"
FAILURE_BURST = "failure_burst"
CONSISTENCY_DROP = "consistency_drop"
DAZZLE_MOMENT = "dazzle_moment"
COMPETITOR_SPIKE = "competitor_spike"
CHURN_INTENT_SPIKE = "churn_intent_spike"
RULE_FRICTION = "rule_friction"

SEVERITY: dict[str, Severity] = {
    JEOPARDY: Severity.CRITICAL,
    LOST: Severity.INFO,
    FAILURE_BURST: Severity.CRITICAL,
    REPEAT_FAILURE: Severity.WARNING,
    CORE_SERVICE_FAILURE: Severity.INFO,
    CONSISTENCY_DROP: Severity.WARNING,
    UNPREDICTABLE_EXPERIENCE: Severity.INFO,
    RECOVERED: Severity.INFO,
    DAZZLE_MOMENT: Severity.INFO,
    COMPETITOR_SPIKE: Severity.WARNING,
    CHURN_INTENT_SPIKE: Severity.CRITICAL,
    RULE_FRICTION: Severity.WARNING,
}

#: Good news and context: published to the notices topic, not to the alerts.
NOTICES = frozenset(kind for kind, severity in SEVERITY.items() if severity is Severity.INFO)

ALERT_ID_HEX = 32


def alert_id(kind: str, entity_type: EntityType, entity_id: str, trigger: str) -> str:
    material = "\x1f".join((kind, entity_type.value, entity_id, trigger)).encode()
    return hashlib.sha256(material).hexdigest()[:ALERT_ID_HEX]


def group_key(kind: str, entity_type: EntityType, entity_id: str, since: str = "") -> str:
    """The condition an alert belongs to; ``since`` tells apart episodes of one condition
    (the window an incident or a drop began in)."""
    key = f"{kind}:{entity_type.value}:{entity_id}"
    return f"{key}@{since}" if since else key


def cooled_down(cooldowns: dict[str, int], kind: str, at_us: int, config: ScoringConfig) -> bool:
    """True (and the cooldown restarts) if no alert of ``kind`` fired in the last cooldown."""
    last = cooldowns.get(kind)
    if last is not None and at_us - last < config.alert_cooldown_us:
        return False
    cooldowns[kind] = at_us if last is None else max(last, at_us)
    return True


def make_alert(
    kind: str,
    entity_type: EntityType,
    entity_id: str,
    *,
    at_us: int,
    trigger: str,
    reason: str,
    scores: Mapping[str, float],
    thresholds: Mapping[str, float],
    evidence: Iterable[str],
    group: str | None = None,
    resolved: bool = False,
) -> Alert:
    """``group``: the condition's group key (default: one per kind and entity).  A
    ``resolved`` alert says the condition of ``group`` has cleared."""
    # Validated from a dict: pydantic-core builds a model in half the time that
    # ``model_construct``'s Python loop over the fields takes.
    return Alert.model_validate(
        {
            "alert_id": alert_id(
                kind, entity_type, entity_id, f"{trigger}|resolved" if resolved else trigger
            ),
            "kind": kind,
            "severity": SEVERITY[kind],
            "entity_type": entity_type,
            "entity_id": entity_id,
            "occurred_at": from_us(at_us),
            "reason": reason,
            "scores": scores,
            "thresholds": thresholds,
            "evidence": list(evidence),
            "group_key": group or group_key(kind, entity_type, entity_id),
            "status": AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
        }
    )


def make_snapshot(
    entity_type: EntityType,
    entity_id: str,
    *,
    at_us: int,
    event_id: str,
    scores: Mapping[str, float],
    labels: Mapping[str, str],
) -> ScoreSnapshot:
    return ScoreSnapshot.model_validate(
        {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "as_of": from_us(at_us),
            "event_id": event_id,
            "scores": scores,
            "labels": labels,
        }
    )
