"""Every number the scoring model uses, in one frozen object (see docs/scoring.md).

Durations are given in the unit people think in (hours, minutes, seconds); the scoring
code reads the ``*_us`` properties, which convert them once to integer microseconds of
event time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from cxpulse.scoring.lexicon import Lexicon

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
EMPTY_LEXICON = Lexicon()


#: Fields the model divides by.
_POSITIVE = (
    "dazzle_half_life_hours",
    "consistency_half_life_hours",
    "entity_window_minutes",
    "promised_wait_seconds",
    "service_level_target",
    "handle_scale_seconds",
    "hold_scale_seconds",
    "transfers_scale",
    "csat_scale",
    "effort_scale",
    "sentiment_scale",
)


@dataclass(frozen=True)
class ScoringConfig:
    # --- deduplication ---------------------------------------------------------------
    dedup_window_hours: float = 168.0
    dedup_max_ids: int = 256

    # --- interaction assembly ----------------------------------------------------------
    interaction_timeout_hours: float = 24.0
    feedback_grace_hours: float = 72.0
    repeat_window_hours: float = 72.0
    max_open_interactions: int = 16
    max_recent_interactions: int = 32
    evidence_max: int = 10

    # --- report card ---------------------------------------------------------------------
    report_card_window_hours: float = 720.0
    #: A customer's own failures (broken promises of no service, failed repeat contacts)
    #: within the report-card window that make a repeat_failure alert.
    repeat_failure_min: int = 3
    delight_min_csat: int = 5
    delight_min_nps: int = 9
    delight_max_effort: int = 3
    dismay_max_csat: int = 2
    dismay_max_nps: int = 4
    dismay_min_effort: int = 6

    # --- dazzle / de-dazzle --------------------------------------------------------------
    dazzle_half_life_hours: float = 168.0
    dazzle_weight: float = 1.0
    delight_weight: float = 0.5
    broken_promise_weight: float = 3.0
    failure_weight: float = 1.0
    dismay_weight: float = 1.0
    policy_blocked_weight: float = 1.0
    policy_redirected_weight: float = 0.5
    jeopardy_min_impulse: float = 1.0
    dazzled_balance: float = 1.0
    fade_balance: float = 0.1
    lost_balance: float = -6.0

    # --- consistency ---------------------------------------------------------------------
    consistency_half_life_hours: float = 720.0
    promised_wait_seconds: float = 60.0
    #: Channels answered asynchronously promise a longer wait than ``promised_wait_seconds``.
    promised_wait_by_channel: tuple[tuple[str, float], ...] = (
        ("email", 4 * 3600.0),
        ("sms", 3600.0),
        ("social", 3600.0),
    )
    service_level_target: float = 0.8
    handle_scale_seconds: float = 300.0
    hold_scale_seconds: float = 60.0
    transfers_scale: float = 1.0
    csat_scale: float = 1.0
    effort_scale: float = 1.5
    sentiment_scale: float = 0.5
    spread_cap: float = 3.0
    drift_weight: float = 1.0
    breach_weight: float = 2.0
    baseline_alpha: float = 0.2
    score_smoothing: float = 0.5
    consistency_alert_threshold: float = 45.0
    #: Agents answer for fewer metrics (no wait, no breach): their scores sit higher.
    agent_consistency_alert_threshold: float = 50.0
    customer_min_samples: int = 5
    entity_min_samples: int = 10
    entity_window_minutes: float = 60.0
    allowed_lateness_minutes: float = 30.0
    #: Closed windows pooled for an agent's or queue's consistency are dropped this old.
    consistency_pool_max_hours: float = 336.0
    #: Time-ordered inputs an entity merges: the partitions of the events topic.
    lanes: int = 1

    # --- alert policy --------------------------------------------------------------------
    alert_cooldown_minutes: float = 60.0
    burst_min_failures: int = 5
    burst_min_rate: float = 0.3
    #: Customers an incident names (it counts the rest).
    incident_max_customers: int = 1000

    # --- conversation intelligence (docs/intelligence.md) --------------------------------
    #: Loaded once at start from the ``lexicon_file`` setting; empty: no insights.
    lexicon: Lexicon = EMPTY_LEXICON
    #: Words kept either side of a mention in an insight's snippet.
    snippet_words: int = 8
    #: Most insights one event can produce (a pasted transcript cannot flood the topic).
    max_insights_per_event: int = 20
    #: Relationship cues a customer's state keeps, latest first.
    max_cues: int = 5
    #: A window's mentions spike when they exceed factor x their baseline ...
    spike_factor: float = 3.0
    #: ... and at least this many ...
    spike_min_mentions: int = 8
    #: ... once the baseline has this many windows of history.
    spike_min_windows: int = 3
    #: Weight of the newest window in the mention baseline (an EWMA over windows).
    spike_baseline_alpha: float = 0.3

    # --- rule friction (docs/intelligence.md) --------------------------------------------
    rule_friction_threshold: float = 40.0
    rule_min_samples: int = 10
    #: Share of the friction score given to repeat contacts and to de-dazzled contacts;
    #: the rest is the share of applications that blocked or redirected.
    friction_repeat_weight: float = 0.25
    friction_dedazzle_weight: float = 0.25
    #: Blocked or redirected applications a customer's state keeps to spot a repeat contact.
    max_rule_hits: int = 8

    def __post_init__(self) -> None:
        for name in _POSITIVE:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.lanes < 1:
            raise ValueError(f"lanes must be >= 1, got {self.lanes!r}")
        if not self.consistency_pool_max_hours >= 0:
            raise ValueError(
                f"consistency_pool_max_hours must be >= 0, got {self.consistency_pool_max_hours!r}"
            )
        if not 0 < self.spike_baseline_alpha <= 1:
            raise ValueError(
                f"spike_baseline_alpha must be in (0, 1], got {self.spike_baseline_alpha!r}"
            )
        weights = (self.friction_repeat_weight, self.friction_dedazzle_weight)
        if not (min(weights) >= 0 and sum(weights) <= 1):
            raise ValueError(f"friction weights must be >= 0 and sum to <= 1, got {weights!r}")

    @cached_property
    def dedup_window_us(self) -> int:
        return round(self.dedup_window_hours * US_PER_HOUR)

    @cached_property
    def interaction_timeout_us(self) -> int:
        return round(self.interaction_timeout_hours * US_PER_HOUR)

    @cached_property
    def feedback_grace_us(self) -> int:
        return round(self.feedback_grace_hours * US_PER_HOUR)

    @cached_property
    def repeat_window_us(self) -> int:
        return round(self.repeat_window_hours * US_PER_HOUR)

    @cached_property
    def report_card_window_us(self) -> int:
        return round(self.report_card_window_hours * US_PER_HOUR)

    @cached_property
    def entity_window_us(self) -> int:
        return max(1, round(self.entity_window_minutes * US_PER_MINUTE))

    @cached_property
    def allowed_lateness_us(self) -> int:
        return round(self.allowed_lateness_minutes * US_PER_MINUTE)

    @cached_property
    def consistency_pool_max_us(self) -> int:
        return round(self.consistency_pool_max_hours * US_PER_HOUR)

    @cached_property
    def alert_cooldown_us(self) -> int:
        return round(self.alert_cooldown_minutes * US_PER_MINUTE)

    @cached_property
    def promised_waits(self) -> dict[str, float]:
        return dict(self.promised_wait_by_channel)

    def promised_wait(self, channel: str | None) -> float:
        """The promised wait in seconds on ``channel``."""
        return self.promised_waits.get(channel or "", self.promised_wait_seconds)

    @cached_property
    def spread_scales(self) -> dict[str, float]:
        """Typical size of each experience metric: a spread of one scale costs one point.

        ``wait_ratio`` is the wait in promised waits (wait / promised wait of its channel).
        """
        return {
            "wait_ratio": 1.0,
            "handle": self.handle_scale_seconds,
            "hold": self.hold_scale_seconds,
            "transfers": self.transfers_scale,
            "csat": self.csat_scale,
            "effort": self.effort_scale,
            "sentiment": self.sentiment_scale,
        }
