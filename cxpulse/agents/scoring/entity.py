"""Agent, queue and service scoring over event-time tumbling windows.

Each summary lands in the window of its ``occurred_at_us``; a window holds only commutative
integer aggregates, so its content does not depend on the order in which summaries of
different customers arrive.  Summaries come from ``config.lanes`` lanes (the partitions of
the events topic), each in event-time order, interleaved in any order.  The entity keeps the
latest time seen on each lane; a window closes, is scored and may alert, once every lane has
reached ``window end + allowed lateness`` (or the most advanced lane is ``idle_lane_hours``
past it, so that a lane without this entity's traffic cannot hold it open forever).  Until
then every summary of the window can still arrive, so stream and replay fill it alike.  A
summary for an already closed window is *late*: counted, otherwise ignored
(docs/scoring.md, section 6).

Summaries are delivered at least once: a re-sent summary (same ``summary_id`` and time)
that an open window already holds is a duplicate and has no effect.  The entity remembers
the (time, id) of the summaries in its open windows only, at most ``dedup_max_ids`` of them
(the latest); a copy of a summary in a closed window is late anyway.

Competitors (mentions in conversations) and rules (friction of ``policy.applied``) use the
same windows; docs/intelligence.md describes what their windows score and alert on.

``score_entity_summary`` takes ownership of ``state`` (updated in place and returned).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import orjson

from cxpulse.agents.scoring import compact_json, friction
from cxpulse.agents.scoring.alerts import (
    CHURN_INTENT_SPIKE,
    COMPETITOR_SPIKE,
    CONSISTENCY_DROP,
    FAILURE_BURST,
    RULE_FRICTION,
    cooled_down,
    make_alert,
    make_snapshot,
)
from cxpulse.agents.scoring.config import ScoringConfig
from cxpulse.agents.scoring.consistency import (
    AGENT_EXPERIENCE,
    SPREAD_METRICS,
    WHOLE_EXPERIENCE,
    Consistency,
    consistency,
    summary_samples,
    update_baseline,
)
from cxpulse.agents.scoring.emitted import DUPLICATE, Emitted
from cxpulse.agents.scoring.eventtime import from_us
from cxpulse.agents.scoring.intelligence import CHURN_ENTITY, judge_mentions
from cxpulse.agents.scoring.moments import FixedSums, MetricStats, add_fixed, fixed_stats
from cxpulse.agents.scoring.report_card import A, F
from cxpulse.agents.scoring.summary import (
    INTERACTION,
    MENTION,
    PROMISE,
    RULE,
    RULE_DEDAZZLE,
    RULE_REPEAT,
    InteractionSummary,
)
from cxpulse.schemas.outputs import Alert, EntityType, ScoreSnapshot

__all__ = ["EntityState", "score_entity_summary", "summary_routes"]

#: Entities whose experience consistency is scored, and those watched for failure bursts.
CONSISTENCY_ENTITIES = frozenset({EntityType.AGENT, EntityType.QUEUE})
BURST_ENTITIES = frozenset({EntityType.QUEUE, EntityType.SERVICE})
RULE_KINDS = frozenset({RULE, RULE_REPEAT, RULE_DEDAZZLE})
MENTIONS = "mentions"

Evidence = list[tuple[int, str]]


@dataclass
class Window:
    start_us: int
    interactions: int = 0
    failures: int = 0
    dazzled: int = 0
    promises: int = 0
    sums: FixedSums = field(default_factory=dict)
    #: Competitor mentions and rule counters (docs/intelligence.md).
    counts: dict[str, int] = field(default_factory=dict)
    #: The earliest (time, event id) of failures and of all summaries, bounded.
    failure_evidence: Evidence = field(default_factory=list)
    evidence: Evidence = field(default_factory=list)


@dataclass
class EntityState:
    entity_type: str
    entity_id: str
    #: The latest summary time seen on each lane (0: none yet).
    lane_high: list[int] = field(default_factory=list)
    #: Every window ending at or before this time is closed.
    closed_through_us: int = 0
    windows: list[Window] = field(default_factory=list)
    baseline: dict[str, float] = field(default_factory=dict)
    windows_closed: int = 0
    late: int = 0
    #: Smoothed consistency (0-100) over the windows with enough contacts.
    consistency: float | None = None
    #: A consistency_drop was raised and the score has not recovered since.
    below: bool = False
    #: Start of the last window closed (competitors: empty windows since count as zero).
    last_window_us: int | None = None
    #: A rule_friction was raised and the rule's friction has not fallen back since.
    friction_raised: bool = False
    cooldowns: dict[str, int] = field(default_factory=dict)
    #: (time, summary id) of the summaries in the open windows, sorted, at most
    #: ``dedup_max_ids`` (the latest): a re-sent one is a duplicate (deduplication).
    seen: Evidence = field(default_factory=list)

    def to_bytes(self) -> bytes:
        return compact_json.dumps(self)

    @classmethod
    def from_bytes(cls, raw: bytes) -> EntityState:
        fields: dict[str, Any] = orjson.loads(raw)
        fields["windows"] = [_window_from_json(window) for window in fields["windows"]]
        # States written before deduplication have no "seen".
        fields["seen"] = [tuple(item) for item in fields.get("seen", ())]
        return cls(**fields)


def _window_from_json(fields: dict[str, Any]) -> Window:
    fields["failure_evidence"] = [tuple(item) for item in fields["failure_evidence"]]
    fields["evidence"] = [tuple(item) for item in fields["evidence"]]
    return Window(**fields)


def summary_routes(summary: InteractionSummary) -> list[tuple[EntityType, str]]:
    """The entities a summary updates: its agent and queue, the service of a promise, the
    competitor of a mention or the rule of a policy decision."""
    if summary.kind == PROMISE:
        return [(EntityType.SERVICE, summary.service_id)] if summary.service_id else []
    if summary.kind == MENTION:
        return [(EntityType.COMPETITOR, summary.term)] if summary.term else []
    if summary.kind in RULE_KINDS:
        return [(EntityType.RULE, summary.rule_id)] if summary.rule_id else []
    routes = []
    if summary.agent_id:
        routes.append((EntityType.AGENT, summary.agent_id))
    if summary.queue_id:
        routes.append((EntityType.QUEUE, summary.queue_id))
    return routes


def _keep_earliest(evidence: Evidence, item: tuple[int, str], limit: int) -> None:
    """Keep the ``limit`` smallest items: the same set whatever the insertion order."""
    if len(evidence) >= limit and item >= evidence[-1]:
        return
    bisect.insort(evidence, item)
    del evidence[limit:]


def _is_seen(seen: Evidence, item: tuple[int, str]) -> bool:
    index = bisect.bisect_left(seen, item)
    return index < len(seen) and seen[index] == item


def _remember(seen: Evidence, item: tuple[int, str], limit: int) -> None:
    """Keep the ``limit`` largest items: the same set whatever the insertion order."""
    bisect.insort(seen, item)
    del seen[: max(0, len(seen) - limit)]


def _forget_closed(seen: Evidence, closed_through_us: int) -> None:
    """Forget the summaries of closed windows: a copy of one of them is late."""
    del seen[: bisect.bisect_left(seen, closed_through_us, key=lambda item: item[0])]


def _add(window: Window, summary: InteractionSummary, config: ScoringConfig) -> None:
    item = (summary.occurred_at_us, summary.event_id)
    failed = False
    if summary.kind == INTERACTION:
        window.interactions += 1
        failed = summary.grade == F
        window.dazzled += summary.grade == A
    elif summary.kind == PROMISE:
        window.promises += 1
        failed = not summary.promise_kept
    elif summary.kind == MENTION:
        window.counts[MENTIONS] = window.counts.get(MENTIONS, 0) + 1
    elif summary.kind in RULE_KINDS:
        failed = friction.count(window.counts, summary)
    if failed:
        window.failures += 1
        _keep_earliest(window.failure_evidence, item, config.evidence_max)
    _keep_earliest(window.evidence, item, config.evidence_max)
    for name, value in summary_samples(summary, config):
        add_fixed(window.sums, name, value)


def _window_for(state: EntityState, start_us: int) -> Window:
    windows = state.windows
    for index in range(len(windows) - 1, -1, -1):
        if windows[index].start_us == start_us:
            return windows[index]
        if windows[index].start_us < start_us:
            window = Window(start_us)
            windows.insert(index + 1, window)
            return window
    window = Window(start_us)
    windows.insert(0, window)
    return window


class _Closer:
    """Scores closed windows of one entity, in window order, and collects the outputs."""

    def __init__(self, state: EntityState, entity_type: EntityType, config: ScoringConfig) -> None:
        self.state = state
        self.entity_type = entity_type
        self.config = config
        self.alerts: list[Alert] = []
        self.snapshots: list[ScoreSnapshot] = []
        self.consistency: list[tuple[EntityType, str, float]] = []
        self.friction: list[tuple[str, float]] = []

    def close(self, window: Window) -> None:
        if self.entity_type == EntityType.COMPETITOR:
            scores = self._mentions(window)
        elif self.entity_type == EntityType.RULE:
            scores = self._friction(window)
        else:
            scores = self._experience(window)
        self.state.windows_closed += 1
        self.state.last_window_us = window.start_us
        end = window.start_us + self.config.entity_window_us
        self.snapshots.append(
            make_snapshot(
                self.entity_type,
                self.state.entity_id,
                at_us=end,
                event_id=_window_id(window.start_us),
                scores=scores,
                labels={
                    "window_start": from_us(window.start_us).isoformat(),
                    "window_end": from_us(end).isoformat(),
                },
            )
        )

    def _experience(self, window: Window) -> dict[str, float]:
        state, config = self.state, self.config
        stats = fixed_stats(window.sums)
        scores = self._window_scores(window, stats)
        if self.entity_type in CONSISTENCY_ENTITIES and window.interactions:
            profile = AGENT_EXPERIENCE if self.entity_type == EntityType.AGENT else WHOLE_EXPERIENCE
            result = consistency(stats, state.baseline, config, profile)
            scores |= {
                "window_consistency": result.score,
                "instability": result.instability,
                "drift": result.drift,
                "breach": result.breach,
            }
            if window.interactions >= config.entity_min_samples:
                previous = state.consistency
                state.consistency = (
                    result.score
                    if previous is None
                    else previous + config.score_smoothing * (result.score - previous)
                )
                scores["consistency"] = state.consistency
                self.consistency.append((self.entity_type, state.entity_id, state.consistency))
                self._consistency_alert(window, result, state.consistency)
            update_baseline(state.baseline, stats, config)
        if self.entity_type in BURST_ENTITIES:
            self._burst_alert(window)
        return scores

    def _mentions(self, window: Window) -> dict[str, float]:
        """Mentions of a competitor (or churn intent) against their own baseline."""
        state, config = self.state, self.config
        width = config.entity_window_us
        previous = state.last_window_us
        skipped = 0 if previous is None else max(0, (window.start_us - previous) // width - 1)
        judged = judge_mentions(state.baseline, window.counts.get(MENTIONS, 0), skipped, config)
        scores = {
            "mentions": float(judged.mentions),
            "baseline": judged.expected,
            "history": float(judged.history),
        }
        if not judged.spike:
            return scores
        churn = state.entity_id == CHURN_ENTITY
        what = "churn-intent phrases" if churn else f"mentions of competitor {state.entity_id}"
        versus = (
            f"{judged.mentions / judged.expected:.1f} x the baseline of {judged.expected:.1f}"
            if judged.expected
            else "against a baseline of 0"
        )
        self._alert(
            CHURN_INTENT_SPIKE if churn else COMPETITOR_SPIKE,
            window,
            reason=f"{judged.mentions} {what} in the window from "
            f"{from_us(window.start_us).isoformat()}: {versus} per window over "
            f"{judged.history} windows (thresholds: {config.spike_factor:g} x baseline and at "
            f"least {config.spike_min_mentions}).",
            scores=scores,
            thresholds={
                "spike_factor": config.spike_factor,
                "min_mentions": float(config.spike_min_mentions),
                "min_windows": float(config.spike_min_windows),
            },
            evidence=window.evidence,
        )
        return scores

    def _friction(self, window: Window) -> dict[str, float]:
        """Friction of a rule; alert once when it passes the threshold with enough
        applications, again only after it has fallen back below."""
        state, config = self.state, self.config
        result = friction.friction(window.counts, config)
        scores = result.scores()
        if result.applications < config.rule_min_samples:
            return scores
        self.friction.append((state.entity_id, result.score))
        threshold = config.rule_friction_threshold
        if result.score < threshold:
            state.friction_raised = False
        elif not state.friction_raised:
            state.friction_raised = self._alert(
                RULE_FRICTION,
                window,
                reason=f"Rule {state.entity_id} gets in customers' way: friction "
                f"{result.score:.1f} >= {threshold:g} in the window from "
                f"{from_us(window.start_us).isoformat()}: it blocked or redirected "
                f"{result.frictional} of {result.applications} applications "
                f"({result.hit_rate:.0%}); {result.repeat_rate:.0%} of those customers "
                f"contacted again soon after and {result.dedazzle_rate:.0%} of those contacts "
                "ended graded F. Review it with customers.",
                scores=scores,
                thresholds={
                    "friction": threshold,
                    "min_samples": float(config.rule_min_samples),
                },
                evidence=window.failure_evidence,
            )
        return scores

    @staticmethod
    def _window_scores(window: Window, stats: dict[str, MetricStats]) -> dict[str, float]:
        total = window.interactions + window.promises
        scores = {
            "interactions": float(window.interactions),
            "promises": float(window.promises),
            "failures": float(window.failures),
            "failure_rate": window.failures / total if total else 0.0,
            "dazzled": float(window.dazzled),
        }
        for name in SPREAD_METRICS:
            metric = stats.get(name)
            if metric is not None:
                scores[f"{name}_mean"] = metric.mean
                scores[f"{name}_sd"] = metric.sd
        return scores

    def _alert(
        self,
        kind: str,
        window: Window,
        *,
        reason: str,
        scores: dict[str, float],
        thresholds: dict[str, float],
        evidence: Evidence,
    ) -> bool:
        end = window.start_us + self.config.entity_window_us
        if not cooled_down(self.state.cooldowns, kind, end, self.config):
            return False
        self.alerts.append(
            make_alert(
                kind,
                self.entity_type,
                self.state.entity_id,
                at_us=end,
                trigger=_window_id(window.start_us),
                reason=reason,
                scores=scores,
                thresholds=thresholds,
                evidence=[event_id for _, event_id in evidence],
            )
        )
        return True

    def _consistency_alert(self, window: Window, result: Consistency, smoothed: float) -> None:
        """Alert once when the smoothed score falls below the threshold, again only after
        it has recovered."""
        state, config = self.state, self.config
        threshold = config.consistency_alert_threshold
        if smoothed >= threshold:
            state.below = False
            return
        if state.below:
            return
        name = f"{self.entity_type.value} {state.entity_id}"
        state.below = self._alert(
            CONSISTENCY_DROP,
            window,
            reason=f"The experience delivered by {name} became unpredictable: consistency "
            f"{smoothed:.1f} < {threshold:.0f} after the window from "
            f"{from_us(window.start_us).isoformat()}, which scored {result.score:.1f} over "
            f"{window.interactions} contacts (instability {result.instability:.2f}, drift "
            f"from baseline {result.drift:.2f}, failures and broken service level "
            f"{result.breach:.2f}).",
            scores={
                "consistency": smoothed,
                "window_consistency": result.score,
                "instability": result.instability,
                "drift": result.drift,
                "breach": result.breach,
                "interactions": float(window.interactions),
            },
            thresholds={"consistency": threshold, "min_samples": float(config.entity_min_samples)},
            evidence=window.evidence,
        )

    def _burst_alert(self, window: Window) -> None:
        config = self.config
        total = window.interactions + window.promises
        rate = window.failures / total if total else 0.0
        if window.failures < config.burst_min_failures or rate < config.burst_min_rate:
            return
        name = f"{self.entity_type.value} {self.state.entity_id}"
        self._alert(
            FAILURE_BURST,
            window,
            reason=f"Core service failures burst on {name}: {window.failures} of {total} "
            f"({rate:.0%}) failed in the window from {from_us(window.start_us).isoformat()} "
            f"(thresholds {config.burst_min_failures} and {config.burst_min_rate:.0%}).",
            scores={
                "failures": float(window.failures),
                "total": float(total),
                "failure_rate": rate,
            },
            thresholds={
                "min_failures": float(config.burst_min_failures),
                "min_rate": config.burst_min_rate,
            },
            evidence=window.failure_evidence,
        )


def _window_id(start_us: int) -> str:
    return f"window:{from_us(start_us).isoformat()}"


def _watermark(lane_high: list[int], config: ScoringConfig) -> int:
    """Event time every lane has reached, or that the most advanced lane is idle-far past.

    The lanes are ``0 .. config.lanes - 1`` and any other lane that has been seen (a topic
    with more partitions than configured)."""
    waited = [high for lane, high in enumerate(lane_high) if high or lane < config.lanes]
    slowest = min(waited) if len(lane_high) >= config.lanes else 0
    return max(slowest, max(lane_high) - config.idle_lane_us)


def _advance(state: EntityState, lane: int, at_us: int, config: ScoringConfig) -> int:
    """Record ``at_us`` on ``lane``; the start of the first window that stays open."""
    highs = state.lane_high
    if len(highs) <= lane:
        highs.extend([0] * (lane + 1 - len(highs)))
    if at_us <= highs[lane]:
        return state.closed_through_us
    highs[lane] = at_us
    width = config.entity_window_us
    return (_watermark(highs, config) - config.allowed_lateness_us) // width * width


def score_entity_summary(
    state: EntityState | None,
    entity_type: EntityType,
    entity_id: str,
    summary: InteractionSummary,
    config: ScoringConfig,
    *,
    lane: int = 0,
) -> tuple[EntityState, Emitted]:
    """Add ``summary``, received on ``lane`` (0 <= lane; normally < ``config.lanes``), and
    score the windows this closes.  A late summary is only counted; a duplicate of one
    already in an open window returns the state untouched with ``DUPLICATE``."""
    if lane < 0:
        raise ValueError(f"lane must be >= 0, got {lane}")
    if state is None:
        state = EntityState(entity_type.value, entity_id)
    width = config.entity_window_us
    at_us = summary.occurred_at_us
    start = at_us - at_us % width
    if start + width <= state.closed_through_us:
        state.late += 1
        return state, Emitted(late_summaries=1)
    item = (at_us, summary.summary_id)
    if _is_seen(state.seen, item):
        return state, DUPLICATE
    _remember(state.seen, item, config.dedup_max_ids)
    _add(_window_for(state, start), summary, config)
    closable = _advance(state, lane, at_us, config)
    if closable <= state.closed_through_us:
        return state, Emitted()
    state.closed_through_us = closable
    _forget_closed(state.seen, closable)
    closer = _Closer(state, entity_type, config)
    windows = state.windows
    while windows and windows[0].start_us + width <= closable:
        closer.close(windows.pop(0))
    return state, Emitted(
        alerts=tuple(closer.alerts),
        snapshots=tuple(closer.snapshots),
        consistency=tuple(closer.consistency),
        rule_friction=tuple(closer.friction),
        windows_closed=len(closer.snapshots),
    )
