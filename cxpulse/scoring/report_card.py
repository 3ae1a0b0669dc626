"""The report card (seed 004): every grade rule lives here.

- **F**: the core service did not work as promised (a broken promise, a repeat contact that
  again ended unresolved or abandoned, an abandoned contact).  The customer leaves, and
  tells everyone.
- **OK**: the core service worked.  That is expected, and earns no loyalty.
- **A**: the core service worked *and* the experience dazzled (an ``experience.dazzle``
  during the contact, or delighted feedback), with no rule blocking the customer on the way.

Rules are checked in the order of ``grade_interaction``; the first that matches decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from cxpulse.scoring.config import ScoringConfig

F = "F"
OK = "OK"
A = "A"
NO_GRADE = "none"

DELIGHT = "delight"
DISMAY = "dismay"

#: Outcomes after which the customer still needs the core service: a new contact within
#: ``repeat_window_hours`` is a repeat contact.
UNFINISHED_OUTCOMES = frozenset({"unresolved", "abandoned"})


@dataclass(frozen=True, slots=True)
class InteractionFacts:
    outcome: str
    repeat: bool = False
    broken_promise: bool = False
    dazzled: bool = False
    policy_blocked: bool = False
    csat: int | None = None
    nps: int | None = None
    effort: int | None = None


def feedback_mood(
    csat: int | None, nps: int | None, effort: int | None, config: ScoringConfig
) -> str | None:
    """``dismay`` beats ``delight``: one bad rating outweighs a polite one (seed 000)."""
    if (
        (csat is not None and csat <= config.dismay_max_csat)
        or (nps is not None and nps <= config.dismay_max_nps)
        or (effort is not None and effort >= config.dismay_min_effort)
    ):
        return DISMAY
    delighted = (csat is not None and csat >= config.delight_min_csat) or (
        nps is not None and nps >= config.delight_min_nps
    )
    if delighted and (effort is None or effort <= config.delight_max_effort):
        return DELIGHT
    return None


def grade_interaction(facts: InteractionFacts, config: ScoringConfig) -> tuple[str, str]:
    """The grade of one finished contact and the rule that gave it."""
    if facts.broken_promise:
        return F, "promise_broken"
    if facts.repeat and facts.outcome in UNFINISHED_OUTCOMES:
        return F, "failed_repeat"
    if facts.outcome == "abandoned":
        return F, "abandoned"
    if not facts.policy_blocked:
        if facts.dazzled:
            return A, "dazzled"
        if feedback_mood(facts.csat, facts.nps, facts.effort, config) == DELIGHT:
            return A, "delighted"
    if facts.outcome == "unknown":
        return OK, "outcome_unknown"
    return OK, "core_service_worked"


def grade_promise(kept: bool) -> tuple[str, str]:
    """A promise about the core service (outage, billing, delivery…) kept or broken."""
    return (OK, "promise_kept") if kept else (F, "promise_broken")


def customer_grade(
    last_f_us: int | None, last_a_us: int | None, graded: int, now_us: int, config: ScoringConfig
) -> str:
    """The customer's card: an F within the report-card window outweighs any A."""
    horizon = now_us - config.report_card_window_us
    if last_f_us is not None and last_f_us >= horizon:
        return F
    if last_a_us is not None and last_a_us >= horizon:
        return A
    return OK if graded else NO_GRADE


def upgraded_by_feedback(grade: str, policy_blocked: bool, mood: str | None) -> bool:
    """Delight (or a dazzle) after the contact ended turns its OK into an A."""
    return grade == OK and not policy_blocked and mood == DELIGHT
