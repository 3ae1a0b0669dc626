from __future__ import annotations

import pytest

from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.report_card import (
    DELIGHT,
    DISMAY,
    NO_GRADE,
    OK,
    A,
    F,
    InteractionFacts,
    customer_grade,
    feedback_mood,
    grade_interaction,
    grade_promise,
    upgraded_by_feedback,
)

CONFIG = ScoringConfig()
HOUR_US = 3_600_000_000


@pytest.mark.parametrize(
    ("facts", "grade", "reason"),
    [
        (InteractionFacts("resolved"), OK, "core_service_worked"),
        (InteractionFacts("escalated"), OK, "core_service_worked"),
        (InteractionFacts("unresolved"), OK, "core_service_worked"),
        (InteractionFacts("unknown"), OK, "outcome_unknown"),
        (InteractionFacts("abandoned"), F, "abandoned"),
        (InteractionFacts("unresolved", repeat=True), F, "failed_repeat"),
        (InteractionFacts("abandoned", repeat=True), F, "failed_repeat"),
        (InteractionFacts("resolved", repeat=True), OK, "core_service_worked"),
        (InteractionFacts("resolved", broken_promise=True, dazzled=True), F, "promise_broken"),
        (InteractionFacts("resolved", dazzled=True), A, "dazzled"),
        (InteractionFacts("resolved", csat=5), A, "delighted"),
        (InteractionFacts("resolved", nps=9, effort=2), A, "delighted"),
        (InteractionFacts("resolved", csat=5, effort=5), OK, "core_service_worked"),
        (InteractionFacts("resolved", csat=4), OK, "core_service_worked"),
        (
            InteractionFacts("resolved", dazzled=True, policy_blocked=True),
            OK,
            "core_service_worked",
        ),
        (InteractionFacts("abandoned", dazzled=True), F, "abandoned"),
    ],
)
def test_grade_rules(facts: InteractionFacts, grade: str, reason: str) -> None:
    assert grade_interaction(facts, CONFIG) == (grade, reason)


@pytest.mark.parametrize(
    ("csat", "nps", "effort", "mood"),
    [
        (5, None, None, DELIGHT),
        (None, 10, None, DELIGHT),
        (5, None, 3, DELIGHT),
        (5, None, 4, None),
        (4, 8, 2, None),
        (2, None, None, DISMAY),
        (None, 4, None, DISMAY),
        (None, None, 6, DISMAY),
        (5, 2, None, DISMAY),
        (None, None, None, None),
    ],
)
def test_feedback_mood(
    csat: int | None, nps: int | None, effort: int | None, mood: str | None
) -> None:
    assert feedback_mood(csat, nps, effort, CONFIG) == mood


@pytest.mark.parametrize(("kept", "grade"), [(True, OK), (False, F)])
def test_promise_grade(kept: bool, grade: str) -> None:
    assert grade_promise(kept)[0] == grade


@pytest.mark.parametrize(
    ("last_f_hours_ago", "last_a_hours_ago", "graded", "grade"),
    [
        (None, None, 0, NO_GRADE),
        (None, None, 3, OK),
        (1, 0.5, 2, F),
        (None, 1, 1, A),
        (721, 1, 2, A),
        (721, 800, 2, OK),
    ],
)
def test_customer_report_card(
    last_f_hours_ago: float | None, last_a_hours_ago: float | None, graded: int, grade: str
) -> None:
    now = 1_000_000 * HOUR_US

    def ago(hours: float | None) -> int | None:
        return None if hours is None else now - int(hours * HOUR_US)

    assert (
        customer_grade(ago(last_f_hours_ago), ago(last_a_hours_ago), graded, now, CONFIG) == grade
    )


@pytest.mark.parametrize(
    ("grade", "blocked", "mood", "upgraded"),
    [
        (OK, False, DELIGHT, True),
        (OK, True, DELIGHT, False),
        (F, False, DELIGHT, False),
        (OK, False, DISMAY, False),
        (OK, False, None, False),
    ],
)
def test_late_delight_upgrades_only_a_clean_ok(
    grade: str, blocked: bool, mood: str | None, upgraded: bool
) -> None:
    assert upgraded_by_feedback(grade, blocked, mood) is upgraded
