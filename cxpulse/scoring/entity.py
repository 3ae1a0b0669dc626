"""Agent, queue and service scoring over event-time tumbling windows.

Each summary lands in the window of its ``occurred_at_us``; a window holds only commutative
integer aggregates, so its content does not depend on the order in which summaries of
different customers arrive.  A window closes, is scored and may alert once the watermark
of its summaries partition has passed it (``windows.py``); a summary for an already closed
window is *late*: counted, otherwise ignored (docs/scoring.md, section 6).

Consistency needs enough contacts to measure a spread: closed windows of an agent or queue
are pooled until they hold ``entity_min_samples`` contacts, so a voice agent is scored
every window or two and a part-time email agent every few days, from the same rule.  A
pool older than ``consistency_pool_max_hours`` is dropped: its contacts are stale.

Summaries are delivered at least once: a re-sent summary (same ``summary_id`` and time)
that an open window already holds is a duplicate and has no effect.  The entity remembers
the (time, id) of the summaries in its open windows only, at most ``dedup_max_ids`` of them
(the latest); a copy of a summary in a closed window is late anyway.

Competitors (mentions in conversations) and rules (friction of ``policy.applied``) use the
same windows; docs/intelligence.md describes what their windows score and alert on.

``add_summary`` and ``close_through`` take ownership of ``state`` (updated in place and
returned).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import orjson

from cxpulse.schemas.outputs import Alert, EntityType, ScoreSnapshot
from cxpulse.scoring import compact_json, friction
from cxpulse.scoring.alerts import (
    CHURN_INTENT_SPIKE,
    COMPETITOR_SPIKE,
    CONSISTENCY_DROP,
    FAILURE_BURST,
    RULE_FRICTION,
    cooled_down,
    group_key,
    make_alert,
    make_snapshot,
)
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.consistency import (
    AGENT_EXPERIENCE,
    SPREAD_METRICS,
    WHOLE_EXPERIENCE,
    Consistency,
    Profile,
    consistency,
    summary_samples,
    update_baseline,
)
from cxpulse.scoring.emitted import DUPLICATE, Emitted
from cxpulse.scoring.eventtime import from_us
from cxpulse.scoring.intelligence import CHURN_ENTITY, judge_mentions
from cxpulse.scoring.moments import (
    FixedSums,
    MetricStats,
    add_fixed,
    fixed_stats,
    merge_fixed,
)
from cxpulse.scoring.report_card import A, F
from cxpulse.scoring.summary import (
    HELD,
    INTERACTION,
    MENTION,
    PROMISE,
    RULE,
    RULE_DEDAZZLE,
    RULE_REPEAT,
    InteractionSummary,
)
from cxpulse.scoring.windows import window_start

__all__ = ["EntityState", "add_summary", "close_through", "first_due_us", "summary_routes"]

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
    #: Interactions whose experience counts for consistency (no service outage behind).
    sampled: int = 0
    failures: int = 0
    dazzled: int = 0
    promises: int = 0
    sums: FixedSums = field(default_factory=dict)
    #: Competitor mentions and rule counters (docs/intelligence.md).
    counts: dict[str, int] = field(default_factory=dict)
    #: The earliest (time, event id) of failures and of all summaries, bounded.
    failure_evidence: Evidence = field(default_factory=list)
    evidence: Evidence = field(default_factory=list)
    #: The customers of the failures (queues and services: what an incident counts), sorted.
    failed_customers: list[str] = field(default_factory=list)
    #: Failures per service whose broken promise failed the contact (queues).
    failure_services: dict[str, int] = field(default_factory=dict)
    #: Customers' alerts held for this queue window, as (time, summary id, alert JSON),
    #: sorted: published when it closes, or folded into the incident if it burst.
    held: list[tuple[int, str, str]] = field(default_factory=list)


@dataclass
class Incident:
    """A failure burst on a queue or service, from its first burst window to its last."""

    group_key: str
    start_us: int
    #: End of the last window that burst.
    last_end_us: int
    windows: int = 0
    contacts: int = 0
    failures: int = 0
    #: The customers hit, sorted, at most ``incident_max_customers`` of them.
    customers: list[str] = field(default_factory=list)
    #: How many more were hit past that cap.
    customers_beyond: int = 0
    #: Customers' repeat_failure alerts folded into the incident instead of published.
    folded_alerts: int = 0
    #: A queue's burst that a service's broken promises explain (most of its first
    #: window's failures) is a symptom of that service's incident: it publishes nothing.
    cause: str | None = None
    evidence: Evidence = field(default_factory=list)


@dataclass
class EntityState:
    entity_type: str
    entity_id: str
    #: Every window ending at or before this time is closed.
    closed_through_us: int = 0
    windows: list[Window] = field(default_factory=list)
    baseline: dict[str, float] = field(default_factory=dict)
    windows_closed: int = 0
    late: int = 0
    #: Smoothed consistency (0-100) over the pools with enough contacts.
    consistency: float | None = None
    #: Closed windows not yet scored for consistency: their sums, contacts and first start.
    pool: FixedSums = field(default_factory=dict)
    pool_contacts: int = 0
    pool_start_us: int | None = None
    #: Start of the last window closed (competitors: empty windows since count as zero).
    last_window_us: int | None = None
    #: Conditions that fired and have not cleared (consistency_drop, rule_friction): kind
    #: -> group key.
    firing: dict[str, str] = field(default_factory=dict)
    incident: Incident | None = None
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
        # States of earlier versions: per-entity lane watermarks and boolean conditions.
        for retired in ("lane_high", "below", "friction_raised"):
            fields.pop(retired, None)
        # States written before deduplication have no "seen".
        fields["seen"] = [tuple(item) for item in fields.get("seen", ())]
        incident = fields.get("incident")
        if incident is not None:
            incident["evidence"] = [tuple(item) for item in incident["evidence"]]
            fields["incident"] = Incident(**incident)
        return cls(**fields)


def _window_from_json(fields: dict[str, Any]) -> Window:
    fields["failure_evidence"] = [tuple(item) for item in fields["failure_evidence"]]
    fields["evidence"] = [tuple(item) for item in fields["evidence"]]
    fields["held"] = [tuple(item) for item in fields.get("held", ())]
    fields.setdefault("sampled", fields["interactions"])  # windows of earlier versions
    return Window(**fields)


def summary_routes(summary: InteractionSummary) -> list[tuple[EntityType, str]]:
    """The entities a summary updates: its agent and queue, the service of a promise, the
    competitor of a mention or the rule of a policy decision."""
    if summary.kind == PROMISE:
        return [(EntityType.SERVICE, summary.service_id)] if summary.service_id else []
    if summary.kind == HELD:
        return [(EntityType.QUEUE, summary.queue_id)] if summary.queue_id else []
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
    if summary.kind == HELD:
        if summary.held_alert is not None:
            held = (summary.occurred_at_us, summary.summary_id, summary.held_alert)
            bisect.insort(window.held, held)
        return
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
        if summary.kind == INTERACTION and summary.service_id:
            services = window.failure_services
            services[summary.service_id] = services.get(summary.service_id, 0) + 1
        _keep_earliest(window.failure_evidence, item, config.evidence_max)
        customers = window.failed_customers
        index = bisect.bisect_left(customers, summary.customer_id)
        if index == len(customers) or customers[index] != summary.customer_id:
            customers.insert(index, summary.customer_id)
    _keep_earliest(window.evidence, item, config.evidence_max)
    if summary.kind == INTERACTION and summary.service_id:
        return  # a service's broken promise is behind it: the incident's, not consistency's
    window.sampled += summary.kind == INTERACTION
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
        # A window without traffic before this one ended the incident: say so first, as a
        # watermark that passed it before this window closed did.
        self.resolve_incident(window.start_us)
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
        burst = self.entity_type in BURST_ENTITIES and self._incident(window)
        if self.entity_type in CONSISTENCY_ENTITIES and window.sampled:
            profile = AGENT_EXPERIENCE if self.entity_type == EntityType.AGENT else WHOLE_EXPERIENCE
            scores["window_consistency"] = consistency(stats, state.baseline, config, profile).score
            # A window that burst is the incident's: it would only say the queue failed.
            if not burst:
                scores |= self._pooled_consistency(window, profile)
        return scores

    def _pooled_consistency(self, window: Window, profile: Profile) -> dict[str, float]:
        """Add the window to the entity's pool; score the pool once it holds enough
        contacts (its scores), then start a new one."""
        state, config = self.state, self.config
        if (
            state.pool_start_us is not None
            and window.start_us - state.pool_start_us > config.consistency_pool_max_us
        ):
            state.pool, state.pool_contacts, state.pool_start_us = {}, 0, None
        if state.pool_start_us is None:
            state.pool_start_us = window.start_us
        merge_fixed(state.pool, window.sums)
        state.pool_contacts += window.sampled
        if state.pool_contacts < config.entity_min_samples:
            return {"pool_contacts": float(state.pool_contacts)}
        stats = fixed_stats(state.pool)
        result = consistency(stats, state.baseline, config, profile)
        previous = state.consistency
        state.consistency = (
            result.score
            if previous is None
            else previous + config.score_smoothing * (result.score - previous)
        )
        contacts, since = state.pool_contacts, state.pool_start_us
        state.pool, state.pool_contacts, state.pool_start_us = {}, 0, None
        update_baseline(state.baseline, stats, config)
        self.consistency.append((self.entity_type, state.entity_id, state.consistency))
        scores = {
            "consistency": state.consistency,
            "consistency_contacts": float(contacts),
            "pooled_consistency": result.score,
            "instability": result.instability,
            "drift": result.drift,
            "breach": result.breach,
        }
        self._consistency_alert(window, result, contacts, since, scores)
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
            self._resolve(
                RULE_FRICTION,
                window,
                reason=f"Rule {state.entity_id} no longer gets in customers' way: friction "
                f"{result.score:.1f} < {threshold:g} in the window from "
                f"{from_us(window.start_us).isoformat()}.",
                scores=scores,
                thresholds={"friction": threshold},
            )
        elif RULE_FRICTION not in state.firing:
            self._alert(
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
                lasting=True,
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
        lasting: bool = False,
    ) -> None:
        """Fire ``kind`` at the end of ``window``, unless it fired within the cooldown.  A
        ``lasting`` condition stays firing (``state.firing``) until ``_resolve``."""
        state = self.state
        end = window.start_us + self.config.entity_window_us
        if not cooled_down(state.cooldowns, kind, end, self.config):
            return
        group = group_key(kind, self.entity_type, state.entity_id, from_us(end).isoformat())
        if lasting:
            state.firing[kind] = group
        self.alerts.append(
            make_alert(
                kind,
                self.entity_type,
                state.entity_id,
                at_us=end,
                trigger=_window_id(window.start_us),
                reason=reason,
                scores=scores,
                thresholds=thresholds,
                evidence=[event_id for _, event_id in evidence],
                group=group,
            )
        )

    def _resolve(
        self,
        kind: str,
        window: Window,
        *,
        reason: str,
        scores: dict[str, float],
        thresholds: dict[str, float],
    ) -> None:
        """Publish that the firing condition ``kind`` has cleared (nothing if none fires)."""
        group = self.state.firing.pop(kind, None)
        if group is None:
            return
        self.alerts.append(
            make_alert(
                kind,
                self.entity_type,
                self.state.entity_id,
                at_us=window.start_us + self.config.entity_window_us,
                trigger=_window_id(window.start_us),
                reason=reason,
                scores=scores,
                thresholds=thresholds,
                evidence=[],
                group=group,
                resolved=True,
            )
        )

    def _consistency_alert(
        self,
        window: Window,
        result: Consistency,
        contacts: int,
        since_us: int,
        scores: dict[str, float],
    ) -> None:
        """Fire once when the smoothed score falls below the threshold; resolve when it
        has recovered."""
        state, config = self.state, self.config
        smoothed = scores["consistency"]
        threshold = (
            config.agent_consistency_alert_threshold
            if self.entity_type == EntityType.AGENT
            else config.consistency_alert_threshold
        )
        name = f"{self.entity_type.value} {state.entity_id}"
        thresholds = {
            "consistency": threshold,
            "min_samples": float(config.entity_min_samples),
        }
        if smoothed >= threshold:
            self._resolve(
                CONSISTENCY_DROP,
                window,
                reason=f"The experience delivered by {name} is predictable again: "
                f"consistency {smoothed:.1f} >= {threshold:.0f} over the {contacts} contacts "
                f"since {from_us(since_us).isoformat()}.",
                scores=scores,
                thresholds=thresholds,
            )
            return
        if CONSISTENCY_DROP in state.firing:
            return
        self._alert(
            CONSISTENCY_DROP,
            window,
            reason=f"The experience delivered by {name} became unpredictable: consistency "
            f"{smoothed:.1f} < {threshold:.0f}; its {contacts} contacts since "
            f"{from_us(since_us).isoformat()} scored {result.score:.1f} (instability "
            f"{result.instability:.2f}, drift from baseline {result.drift:.2f}, failures and "
            f"broken service level {result.breach:.2f}). Coach for a repeatable way of "
            "working; look at the evidence contacts first.",
            scores=scores,
            thresholds=thresholds,
            evidence=window.evidence,
            lasting=True,
        )

    def _incident(self, window: Window) -> bool:
        """A window that bursts opens an incident or updates it (one firing record per
        window, the counts kept current); the first window that does not burst resolves
        it, and so does a window without traffic (``resolve_incident``).  True if the
        window burst."""
        state, config = self.state, self.config
        total = window.interactions + window.promises
        rate = window.failures / total if total else 0.0
        bursts = window.failures >= config.burst_min_failures and rate >= config.burst_min_rate
        incident = state.incident
        end = window.start_us + config.entity_window_us
        if incident is not None and not bursts:
            self._resolve_incident(end)
            incident = None
        if not bursts:
            self.alerts.extend(Alert.model_validate_json(raw) for _, _, raw in window.held)
            return False
        if incident is None:
            start = from_us(window.start_us).isoformat()
            incident = state.incident = Incident(
                group_key(FAILURE_BURST, self.entity_type, state.entity_id, start),
                start_us=window.start_us,
                last_end_us=end,
                cause=_cause(window),
            )
        incident.last_end_us = end
        incident.windows += 1
        incident.contacts += total
        incident.failures += window.failures
        incident.folded_alerts += len(window.held)
        _count_customers(incident, window.failed_customers, config.incident_max_customers)
        for item in window.failure_evidence:
            _keep_earliest(incident.evidence, item, config.evidence_max)
        if incident.cause is not None:
            return True
        name = f"{self.entity_type.value} {state.entity_id}"
        hit = len(incident.customers) + incident.customers_beyond
        self.alerts.append(
            make_alert(
                FAILURE_BURST,
                self.entity_type,
                state.entity_id,
                at_us=end,
                trigger=_window_id(window.start_us),
                reason=f"Incident on {name} since {from_us(incident.start_us).isoformat()}: "
                f"{incident.failures} of {incident.contacts} contacts failed, {hit} customers "
                f"hit; in the window from {from_us(window.start_us).isoformat()} "
                f"{window.failures} of {total} ({rate:.0%}) failed (thresholds "
                f"{config.burst_min_failures} and {config.burst_min_rate:.0%}); "
                f"{incident.folded_alerts} customers failed repeatedly in it. Find and fix "
                "the cause; tell the customers hit.",
                scores={
                    "failures": float(window.failures),
                    "total": float(total),
                    "failure_rate": rate,
                    "incident_failures": float(incident.failures),
                    "incident_contacts": float(incident.contacts),
                    "customers_hit": float(hit),
                    "incident_windows": float(incident.windows),
                    "folded_alerts": float(incident.folded_alerts),
                },
                thresholds={
                    "min_failures": float(config.burst_min_failures),
                    "min_rate": config.burst_min_rate,
                },
                evidence=[event_id for _, event_id in incident.evidence],
                group=incident.group_key,
            )
        )
        return True

    def resolve_incident(self, watermark_us: int) -> None:
        """Resolve the open incident once a window after its last burst has passed."""
        incident = self.state.incident
        if incident is not None:
            end = incident.last_end_us + self.config.entity_window_us
            if end <= watermark_us:
                self._resolve_incident(end)

    def _resolve_incident(self, at_us: int) -> None:
        incident = self.state.incident
        assert incident is not None
        self.state.incident = None
        if incident.cause is not None:
            return
        name = f"{self.entity_type.value} {self.state.entity_id}"
        hit = len(incident.customers) + incident.customers_beyond
        self.alerts.append(
            make_alert(
                FAILURE_BURST,
                self.entity_type,
                self.state.entity_id,
                at_us=at_us,
                trigger=_window_id(incident.start_us),
                reason=f"Incident on {name} over: from {from_us(incident.start_us).isoformat()} "
                f"to {from_us(incident.last_end_us).isoformat()}, {incident.failures} of "
                f"{incident.contacts} contacts failed and {hit} customers were hit.",
                scores={
                    "incident_failures": float(incident.failures),
                    "incident_contacts": float(incident.contacts),
                    "customers_hit": float(hit),
                    "incident_windows": float(incident.windows),
                },
                thresholds={},
                evidence=[event_id for _, event_id in incident.evidence],
                group=incident.group_key,
                resolved=True,
            )
        )


def _cause(window: Window) -> str | None:
    """The service whose broken promises failed most of ``window``'s contacts, if any."""
    if not window.failure_services:
        return None
    count, service = max((n, s) for s, n in window.failure_services.items())
    return service if 2 * count >= window.failures else None


def _count_customers(incident: Incident, customers: list[str], limit: int) -> None:
    known = incident.customers
    for customer in customers:
        index = bisect.bisect_left(known, customer)
        if index < len(known) and known[index] == customer:
            continue
        if len(known) >= limit:
            incident.customers_beyond += 1
        else:
            known.insert(index, customer)


def _window_id(start_us: int) -> str:
    return f"window:{from_us(start_us).isoformat()}"


def add_summary(
    state: EntityState | None,
    entity_type: EntityType,
    entity_id: str,
    summary: InteractionSummary,
    config: ScoringConfig,
    *,
    closed_through_us: int = 0,
) -> tuple[EntityState, Emitted]:
    """Add ``summary`` to its window.  A summary for a window ending at or before
    ``closed_through_us`` (its partition's watermark) or the entity's own is late: only
    counted.  A duplicate of one already in an open window returns the state untouched
    with ``DUPLICATE``."""
    if state is None:
        state = EntityState(entity_type.value, entity_id)
    at_us = summary.occurred_at_us
    start = window_start(at_us, config)
    if start + config.entity_window_us <= max(closed_through_us, state.closed_through_us):
        state.late += 1
        return state, Emitted(late_summaries=1)
    item = (at_us, summary.summary_id)
    if _is_seen(state.seen, item):
        return state, DUPLICATE
    _remember(state.seen, item, config.dedup_max_ids)
    _add(_window_for(state, start), summary, config)
    return state, Emitted()


def close_through(
    state: EntityState, entity_type: EntityType, through_us: int, config: ScoringConfig
) -> tuple[EntityState, Emitted]:
    """Close and score, in order, the windows ending at or before ``through_us``."""
    if through_us <= state.closed_through_us:
        return state, Emitted()
    state.closed_through_us = through_us
    _forget_closed(state.seen, through_us)
    closer = _Closer(state, entity_type, config)
    windows = state.windows
    width = config.entity_window_us
    while windows and windows[0].start_us + width <= through_us:
        closer.close(windows.pop(0))
    closer.resolve_incident(through_us)
    if not closer.alerts and not closer.snapshots:
        return state, Emitted()
    return state, Emitted(
        alerts=tuple(closer.alerts),
        snapshots=tuple(closer.snapshots),
        consistency=tuple(closer.consistency),
        rule_friction=tuple(closer.friction),
        windows_closed=len(closer.snapshots),
    )


def first_due_us(state: EntityState, config: ScoringConfig) -> int | None:
    """The earliest watermark at which ``close_through`` has work for this entity: the end
    of its first open window, or of the quiet window that resolves its incident."""
    due = [config.entity_window_us + window.start_us for window in state.windows[:1]]
    if state.incident is not None:
        due.append(state.incident.last_end_us + config.entity_window_us)
    return min(due) if due else None
