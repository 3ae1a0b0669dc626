"""Rule friction (seed 004): how much a rule written by insiders gets in customers' way.

Per rule and event-time window, from ``policy.applied``:

- *hit rate*: the share of applications that blocked or redirected the customer;
- *repeat rate*: of those, the share after which the customer contacted again within the
  repeat window;
- *de-dazzle rate*: of those, the share whose contact ended graded F.

``friction = 100 x hit x (1 - wr - wd + wr x repeat + wd x dedazzle)``: a rule that hits
nobody has none; one that hits everyone has at least ``100 x (1 - wr - wd)``, and more the
more it sends customers back and costs their contact (weights ``friction_repeat_weight``
and ``friction_dedazzle_weight``).  The rates of a window are capped at 1: a repeat can
land in the window after the application it follows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.summary import RULE, RULE_DEDAZZLE, RULE_REPEAT, InteractionSummary

__all__ = [
    "FRICTIONAL_EFFECTS",
    "Friction",
    "RuleHit",
    "count",
    "friction",
    "remember_hit",
    "repeated_rules",
]

# Window counters of a rule entity; the effects count under their own name.
APPLICATIONS = "applications"
FRICTIONAL = "frictional"
BLOCKED = "blocked"
REDIRECTED = "redirected"
FRICTIONAL_EFFECTS = frozenset({BLOCKED, REDIRECTED})
REPEATS = "repeats"
DEDAZZLED = "dedazzled"


@dataclass
class RuleHit:
    """A blocked or redirected application, remembered in the customer's state."""

    rule_id: str
    at_us: int
    event_id: str
    interaction_id: str | None = None


def remember_hit(hits: list[RuleHit], hit: RuleHit, config: ScoringConfig) -> None:
    """Add ``hit``; forget hits past the repeat window and beyond the max count."""
    horizon = hit.at_us - config.repeat_window_us
    kept = [h for h in hits if h.at_us >= horizon]
    hits[:] = kept[max(0, len(kept) - config.max_rule_hits + 1) :]
    hits.append(hit)


def repeated_rules(
    hits: list[RuleHit], interaction_id: str, at_us: int, config: ScoringConfig
) -> list[RuleHit]:
    """The hits a new contact ``interaction_id`` repeats, one per rule; they are removed.

    A hit in that same contact is not repeated by it; hits past the window are dropped.
    """
    repeated: dict[str, RuleHit] = {}
    kept = []
    for hit in hits:
        if hit.interaction_id == interaction_id:
            kept.append(hit)
        elif 0 <= at_us - hit.at_us <= config.repeat_window_us:
            repeated.setdefault(hit.rule_id, hit)
    hits[:] = kept
    return list(repeated.values())


@dataclass(frozen=True, slots=True)
class Friction:
    applications: int
    frictional: int
    repeats: int
    dedazzled: int
    hit_rate: float
    repeat_rate: float
    dedazzle_rate: float
    score: float

    def scores(self) -> dict[str, float]:
        return {
            "friction": self.score,
            "applications": float(self.applications),
            "frictional": float(self.frictional),
            "hit_rate": self.hit_rate,
            "repeats": float(self.repeats),
            "repeat_rate": self.repeat_rate,
            "dedazzled": float(self.dedazzled),
            "dedazzle_rate": self.dedazzle_rate,
        }


def _rate(part: int, whole: int) -> float:
    return min(1.0, part / whole) if whole else 0.0


def friction(counts: Mapping[str, int], config: ScoringConfig) -> Friction:
    """The friction of one rule window from its counters."""
    applications = counts.get(APPLICATIONS, 0)
    frictional = counts.get(FRICTIONAL, 0)
    repeats = counts.get(REPEATS, 0)
    dedazzled = counts.get(DEDAZZLED, 0)
    hit, repeat, dedazzle = (
        _rate(frictional, applications),
        _rate(repeats, frictional),
        _rate(dedazzled, frictional),
    )
    wr, wd = config.friction_repeat_weight, config.friction_dedazzle_weight
    score = 100.0 * hit * (1.0 - wr - wd + wr * repeat + wd * dedazzle)
    return Friction(applications, frictional, repeats, dedazzled, hit, repeat, dedazzle, score)


def count(counts: dict[str, int], summary: InteractionSummary) -> bool:
    """Add a rule summary to a window's counters; True if it is a blocked or redirected
    application (evidence worth keeping)."""
    names: tuple[str, ...] = ()
    if summary.kind == RULE:
        names = (APPLICATIONS,)
        if summary.effect in FRICTIONAL_EFFECTS:
            names = (APPLICATIONS, FRICTIONAL, summary.effect)
    elif summary.kind == RULE_REPEAT:
        names = (REPEATS,)
    elif summary.kind == RULE_DEDAZZLE:
        names = (DEDAZZLED,)
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return FRICTIONAL in names
