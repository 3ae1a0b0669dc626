"""Customer scoring: one event in, the customer's new state and what it produced out.

``score_customer_event`` takes ownership of ``state``: it is updated in place and
returned (a duplicate returns it untouched).  Events of one customer must be given in the
order the producer sent them; everything else is event time (docs/scoring.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cxpulse.schemas.events import Event
from cxpulse.schemas.outputs import Alert, EntityType, Insight, ScoreSnapshot
from cxpulse.scoring import dazzle, friction, report_card
from cxpulse.scoring.alerts import (
    CORE_SERVICE_FAILURE,
    DAZZLE_MOMENT,
    REPEAT_FAILURE,
    UNPREDICTABLE_EXPERIENCE,
    cooled_down,
    make_alert,
    make_snapshot,
)
from cxpulse.scoring.anonymous import is_anonymous, without_customer_outputs
from cxpulse.scoring.assembly import (
    DoneInteraction,
    OpenInteraction,
    add_evidence,
    fold,
    route,
    summarise,
)
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.consistency import consistency, summary_samples
from cxpulse.scoring.customer_state import CustomerState
from cxpulse.scoring.emitted import DUPLICATE, Emitted
from cxpulse.scoring.eventtime import from_us, hours_between, to_us
from cxpulse.scoring.intelligence import read_conversation, remember_cues
from cxpulse.scoring.moments import add_decayed, decay_moments, decayed_stats
from cxpulse.scoring.summary import (
    FOLLOWUP,
    HELD,
    PROMISE,
    RULE,
    RULE_DEDAZZLE,
    RULE_REPEAT,
    InteractionSummary,
)

__all__ = ["CustomerState", "score_customer_event"]

CUSTOMER = EntityType.CUSTOMER

#: Loyalty transitions that raise an alert of the same name.
ALERTED_TRANSITIONS = frozenset({dazzle.JEOPARDY, dazzle.LOST, dazzle.RECOVERED})
#: F grades that raise ``core_service_failure`` for the customer; a single abandoned
#: contact is graded F but only alerted through the queue's ``failure_burst``.
ALERTED_FAILURES = frozenset({"promise_broken", "failed_repeat"})


def remember(state: CustomerState, event_id: str, at_us: int, config: ScoringConfig) -> None:
    """Record an event id; forget ids older than the dedup window or beyond the max count."""
    seen = state.seen
    seen[event_id] = at_us
    state.watermark_us = max(state.watermark_us, at_us)
    horizon = state.watermark_us - config.dedup_window_us
    while seen and (len(seen) > config.dedup_max_ids or next(iter(seen.values())) < horizon):
        del seen[next(iter(seen))]


class _Step:
    """One event's worth of changes to a customer, and the outputs they produce."""

    def __init__(
        self, state: CustomerState, event_id: str, at_us: int, config: ScoringConfig
    ) -> None:
        self.state = state
        self.event_id = event_id
        self.at_us = at_us
        self.config = config
        self.alerts: list[Alert] = []
        self.summaries: list[InteractionSummary] = []
        self.insights: list[Insight] = []
        self.grades: list[str] = []
        self.transitions: list[tuple[str, str]] = []
        self.consistency: float | None = None
        self.balance: float | None = None
        self.changed = False
        self.late = 0

    # --- outputs -------------------------------------------------------------------------

    def alert(
        self,
        kind: str,
        reason: str,
        scores: dict[str, float],
        thresholds: dict[str, float],
        evidence: list[str],
    ) -> bool:
        if not cooled_down(self.state.cooldowns, kind, self.at_us, self.config):
            return False
        self.alerts.append(
            make_alert(
                kind,
                CUSTOMER,
                self.state.customer_id,
                at_us=self.at_us,
                trigger=self.event_id,
                reason=reason,
                scores=scores,
                thresholds=thresholds,
                evidence=evidence,
            )
        )
        return True

    def result(self) -> Emitted:
        snapshots: tuple[ScoreSnapshot, ...] = ()
        if self.changed:
            snapshots = (self._snapshot(),)
        return Emitted(
            alerts=tuple(self.alerts),
            snapshots=snapshots,
            summaries=tuple(self.summaries),
            insights=tuple(self.insights),
            grades=tuple(self.grades),
            loyalty_transitions=tuple(self.transitions),
            consistency=(
                ((CUSTOMER, self.state.customer_id, self.consistency),)
                if self.consistency is not None
                else ()
            ),
            dazzle_balance=self.balance,
            late_events=self.late,
        )

    def _snapshot(self) -> ScoreSnapshot:
        state, config = self.state, self.config
        balance = dazzle.balance_at(state.balance, state.balance_us, self.at_us, config)
        scores = {
            "dazzle_balance": balance,
            "dazzle_score": dazzle.dazzle_score(balance),
            "interactions": float(state.interactions),
        }
        if state.consistency is not None:
            scores["consistency"] = state.consistency
        grade = report_card.customer_grade(
            state.last_f_us, state.last_a_us, state.graded, self.at_us, config
        )
        labels = {"grade": grade, "loyalty": state.loyalty}
        if state.cues:
            labels["cues"] = "; ".join(state.cues)
        return make_snapshot(
            CUSTOMER,
            state.customer_id,
            at_us=self.at_us,
            event_id=self.event_id,
            scores=scores,
            labels=labels,
        )

    def rule_summary(self, kind: str, rule_id: str, suffix: str, **fields: Any) -> None:
        self.summaries.append(
            InteractionSummary(
                summary_id=f"{self.event_id}/{kind}/{suffix}",
                kind=kind,
                event_id=self.event_id,
                customer_id=self.state.customer_id,
                occurred_at_us=self.at_us,
                rule_id=rule_id,
                **fields,
            )
        )

    # --- dazzle / de-dazzle ----------------------------------------------------------------

    def impulse(self, weight: float, what: str) -> bool:
        """Apply an impulse; returns True if a loyalty alert was raised for it."""
        state, config = self.state, self.config
        before = dazzle.balance_at(state.balance, state.balance_us, self.at_us, config)
        loyalty = dazzle.faded(state.loyalty, before, config)
        if loyalty != state.loyalty:
            self.transitions.append((state.loyalty, loyalty))
        state.balance, state.balance_us = dazzle.add_impulse(
            state.balance, state.balance_us, weight, self.at_us, config
        )
        after = dazzle.balance_at(state.balance, state.balance_us, self.at_us, config)
        new = dazzle.next_loyalty(loyalty, after, weight, config)
        state.loyalty = new
        self.balance = after
        self.changed = True
        if new == loyalty:
            return False
        self.transitions.append((loyalty, new))
        if new not in ALERTED_TRANSITIONS:
            return False
        evidence = [self.event_id]
        if state.last_dazzle_event is not None and state.last_dazzle_event != self.event_id:
            evidence.append(state.last_dazzle_event)
        return self.alert(
            new,
            f"Customer {state.customer_id} went from {loyalty} to {new}: {what} (event "
            f"{self.event_id}) moved the dazzle balance from {before:.2f} to {after:.2f}.",
            {"dazzle_balance": after, "balance_before": before, "impulse": weight},
            {
                "dazzled_balance": config.dazzled_balance,
                "jeopardy_min_impulse": config.jeopardy_min_impulse,
                "lost_balance": config.lost_balance,
            },
            evidence,
        )

    # --- report card ------------------------------------------------------------------------

    def grade(self, grade: str) -> None:
        state = self.state
        state.graded += 1
        if grade == report_card.F:
            last = state.last_f_us
            state.last_f_us = self.at_us if last is None else max(last, self.at_us)
        elif grade == report_card.A:
            last = state.last_a_us
            state.last_a_us = self.at_us if last is None else max(last, self.at_us)
        self.changed = True

    def failure(
        self,
        reason: str,
        what: str,
        weight: float,
        evidence: list[str],
        *,
        service_id: str | None = None,
        queue_id: str | None = None,
    ) -> None:
        """An F: de-dazzle, and say so unless a loyalty alert already names it.

        A single F is a notice (``core_service_failure``); it asks for a person when it
        repeats: the customer's ``repeat_failure_min``-th F of their own within the
        report-card window (a broken promise, a failed repeat contact), then not again
        within that window.  A broken promise of a service is counted by that service's
        incident instead (``entity.py``), an abandoned contact by its queue's service level
        and bursts: neither counts here.  A repeat on a queue is
        handed to the queue (``HELD``): its window publishes it, or folds it into the
        queue's incident if that window burst, so an outage does not page once per
        customer who called twice.
        """
        state, config = self.state, self.config
        if service_id is None and reason in ALERTED_FAILURES:
            horizon = self.at_us - config.report_card_window_us
            recent = [at for at in state.own_failures_us if at > horizon] + [self.at_us]
            state.own_failures_us = recent[-config.repeat_failure_min :]
        if self.impulse(-weight, what) or reason not in ALERTED_FAILURES:
            return
        balance = self.balance or 0.0
        failures = state.own_failures_us
        last = state.cooldowns.get(REPEAT_FAILURE)
        if (
            service_id is None
            and len(failures) >= config.repeat_failure_min
            and (last is None or self.at_us - last > config.report_card_window_us)
        ):
            fired = self.alert(
                REPEAT_FAILURE,
                f"Core service failed customer {state.customer_id} {len(failures)} times since "
                f"{from_us(failures[0]).isoformat()}, the last: {what} (event "
                f"{self.event_id}); dazzle balance {balance:.2f}. Call the customer back and "
                "fix it for them.",
                {"dazzle_balance": balance, "failures": float(len(failures))},
                {
                    "repeat_failure_min": float(config.repeat_failure_min),
                    "report_card_window_hours": config.report_card_window_hours,
                },
                evidence,
            )
            if fired and queue_id is not None:
                self.hold_for_queue(self.alerts.pop(), queue_id)
            return
        self.alert(
            CORE_SERVICE_FAILURE,
            f"Core service failed for customer {self.state.customer_id}: {what} "
            f"(event {self.event_id}); report card F, dazzle balance {balance:.2f}.",
            {"dazzle_balance": balance},
            {},
            evidence,
        )

    def hold_for_queue(self, alert: Alert, queue_id: str) -> None:
        """Hand ``alert`` to the queue's window instead of publishing it (``failure``)."""
        self.summaries.append(
            InteractionSummary(
                summary_id=f"{self.event_id}/held",
                kind=HELD,
                event_id=self.event_id,
                customer_id=self.state.customer_id,
                occurred_at_us=self.at_us,
                queue_id=queue_id,
                held_alert=alert.to_json().decode(),
            )
        )

    # --- consistency ------------------------------------------------------------------------

    def experience(self, summary: InteractionSummary) -> None:
        """Add what the customer experienced to their rolling statistics and re-score."""
        state, config = self.state, self.config
        samples = summary_samples(summary, config)
        if not samples:
            return
        if self.at_us > state.moments_us:
            hours = hours_between(state.moments_us, self.at_us)
            decay_moments(state.moments, 2.0 ** (-hours / config.consistency_half_life_hours))
            state.moments_us = self.at_us
        for name, value in samples:
            add_decayed(state.moments, name, value)
        self.changed = True
        if state.interactions < config.customer_min_samples:
            return
        result = consistency(decayed_stats(state.moments), {}, config)
        previous, state.consistency = state.consistency, result.score
        self.consistency = result.score
        threshold = config.consistency_alert_threshold
        if previous is not None and previous >= threshold > result.score:
            self.alert(
                UNPREDICTABLE_EXPERIENCE,
                f"Customer {state.customer_id}'s experience became unpredictable: consistency "
                f"{result.score:.1f} < {threshold:.0f} over {state.interactions} contacts "
                f"(instability {result.instability:.2f}, broken service level and failures "
                f"{result.breach:.2f}).",
                {
                    "consistency": result.score,
                    "instability": result.instability,
                    "breach": result.breach,
                },
                {
                    "consistency": threshold,
                    "min_samples": float(config.customer_min_samples),
                },
                list(summary.evidence),
            )


# --- event handlers ----------------------------------------------------------------------


def _open(step: _Step, interaction_id: str) -> OpenInteraction:
    state, config = step.state, step.config
    if len(state.open) >= config.max_open_interactions:
        oldest = next(iter(state.open.values()))
        _finish(step, oldest, None)
    record = OpenInteraction(interaction_id, step.at_us)
    since = state.unfinished_us
    if since is not None and 0 <= step.at_us - since <= config.repeat_window_us:
        record.repeat = True
        record.broken_service = state.unfinished_service
        if state.unfinished_event is not None:
            add_evidence(record, state.unfinished_event, config)
    state.open[interaction_id] = record
    for hit in friction.repeated_rules(state.rule_hits, interaction_id, step.at_us, config):
        step.rule_summary(
            RULE_REPEAT, hit.rule_id, hit.rule_id, evidence=(hit.event_id, step.event_id)
        )
    return record


def _finish(step: _Step, record: OpenInteraction, outcome: str | None) -> None:
    state, config = step.state, step.config
    summary = summarise(
        record,
        outcome,
        customer_id=state.customer_id,
        trigger_id=step.event_id,
        at_us=step.at_us,
        config=config,
    )
    del state.open[record.interaction_id]
    done = state.done
    if len(done) >= config.max_recent_interactions:
        del done[next(iter(done))]
    grade = summary.grade or report_card.OK
    done[record.interaction_id] = DoneInteraction(
        step.at_us,
        grade,
        record.policy_blocked,
        summary.channel,
        summary.queue_id,
        summary.agent_id,
    )
    if summary.outcome in report_card.UNFINISHED_OUTCOMES:
        state.unfinished_us, state.unfinished_event = step.at_us, step.event_id
        state.unfinished_service = record.broken_service
    elif summary.outcome == "resolved":
        state.unfinished_us = state.unfinished_event = state.unfinished_service = None
    state.interactions += 1
    step.summaries.append(summary)
    step.grades.append(grade)
    step.grade(grade)
    if grade == report_card.F:
        for rule_id in dict.fromkeys(record.rules):
            step.rule_summary(
                RULE_DEDAZZLE,
                rule_id,
                f"{record.interaction_id}/{rule_id}",
                interaction_id=record.interaction_id,
                evidence=summary.evidence,
            )
    if grade == report_card.F and summary.grade_reason != "promise_broken":
        step.failure(
            summary.grade_reason or "",
            f"contact {record.interaction_id} was {summary.grade_reason}",
            config.failure_weight,
            list(summary.evidence),
            service_id=summary.service_id,
            queue_id=summary.queue_id,
        )
    step.experience(summary)


def _expire(step: _Step, current: str | None) -> None:
    """Close contacts open longer than the timeout; forget contacts past the grace period."""
    state, config = step.state, step.config
    if state.open:
        limit = step.at_us - config.interaction_timeout_us
        for record in [r for r in state.open.values() if r.opened_us < limit]:
            if record.interaction_id != current:
                _finish(step, record, None)
    done = state.done
    horizon = step.at_us - config.feedback_grace_us
    # Finished in order: the oldest is first.
    while done and next(iter(done.values())).ended_us < horizon:
        del done[next(iter(done))]


def _lifecycle(step: _Step, event: Any) -> None:
    state = step.state
    record = state.open.get(event.interaction_id)
    if record is None:
        if event.interaction_id in state.done:
            step.late += 1
            return
        record = _open(step, event.interaction_id)
    fold(record, event, step.at_us, step.config)
    if event.type == "interaction.ended":
        _finish(step, record, event.outcome.value)


def _followup(step: _Step, done: DoneInteraction, event: Any, **ratings: Any) -> None:
    route(done, event)
    summary = InteractionSummary(
        summary_id=f"{step.event_id}/{event.interaction_id}",
        kind=FOLLOWUP,
        event_id=step.event_id,
        customer_id=step.state.customer_id,
        occurred_at_us=step.at_us,
        interaction_id=event.interaction_id,
        channel=done.channel,
        queue_id=done.queue_id,
        agent_id=done.agent_id,
        grade=done.grade,
        evidence=(step.event_id,),
        **ratings,
    )
    step.summaries.append(summary)
    step.experience(summary)


def _feedback(step: _Step, event: Any) -> None:
    state, config = step.state, step.config
    if event.comment:
        _listen(step, event, event.comment)
    record = state.open.get(event.interaction_id)
    done = state.done.get(event.interaction_id)
    if record is None and done is None:
        step.late += 1
        return
    mood = report_card.feedback_mood(event.csat, event.nps, event.effort, config)
    if record is not None:
        fold(record, event, step.at_us, config)
    elif done is not None:
        if report_card.upgraded_by_feedback(done.grade, done.policy_blocked, mood):
            done.grade = report_card.A
            step.grade(report_card.A)
        _followup(step, done, event, csat=event.csat, nps=event.nps, effort=event.effort)
    if mood == report_card.DELIGHT:
        step.impulse(config.delight_weight, "delighted feedback")
    elif mood == report_card.DISMAY:
        step.impulse(-config.dismay_weight, "dismayed feedback")


def _sentiment(step: _Step, event: Any) -> None:
    if event.who.value != "customer":
        return
    state = step.state
    record = state.open.get(event.interaction_id)
    if record is not None:
        fold(record, event, step.at_us, step.config)
        return
    done = state.done.get(event.interaction_id)
    if done is None:
        step.late += 1
        return
    _followup(step, done, event, sentiment=event.score)


def _note(step: _Step, event: Any) -> None:
    record = step.state.open.get(event.interaction_id)
    if record is not None:
        fold(record, event, step.at_us, step.config)
    _listen(step, event, event.text)


def _listen(step: _Step, event: Any, text: str) -> None:
    """Conversation intelligence: insights, competitor summaries and relationship cues."""
    state, config = step.state, step.config
    record = state.open.get(event.interaction_id)
    sentiment = (
        record.sentiment_sum / record.sentiment_n
        if record is not None and record.sentiment_n
        else None
    )
    heard = read_conversation(
        text,
        event_id=step.event_id,
        customer_id=state.customer_id,
        interaction_id=event.interaction_id,
        at_us=step.at_us,
        sentiment=sentiment,
        config=config,
    )
    step.insights.extend(heard.insights)
    step.summaries.extend(heard.summaries)
    if remember_cues(state.cues, heard.cues, config.max_cues):
        step.changed = True


def _promise(step: _Step, event: Any) -> None:
    state, config = step.state, step.config
    kept = event.type == "service.promise_kept"
    grade, reason = report_card.grade_promise(kept)
    record = state.open.get(event.interaction_id) if event.interaction_id else None
    if record is not None:
        add_evidence(record, event.event_id, config)
        if not kept:
            record.broken_promise = event.event_id
            record.broken_service = event.service_id
    step.summaries.append(
        InteractionSummary(
            summary_id=f"{event.event_id}/promise",
            kind=PROMISE,
            event_id=event.event_id,
            customer_id=state.customer_id,
            occurred_at_us=step.at_us,
            interaction_id=event.interaction_id,
            channel=event.channel.value if event.channel is not None else None,
            queue_id=event.queue_id,
            agent_id=event.agent_id,
            service_id=event.service_id,
            grade=grade,
            grade_reason=reason,
            promise_kept=kept,
            evidence=(event.event_id,),
        )
    )
    if kept:
        return
    step.grade(grade)
    service = f" on service {event.service_id}" if event.service_id else ""
    step.failure(
        reason,
        f"a broken promise ({event.promise.value}{service})",
        config.broken_promise_weight,
        [event.event_id],
        service_id=event.service_id,
        queue_id=event.queue_id,
    )


def _dazzle(step: _Step, event: Any) -> None:
    state, config = step.state, step.config
    record = state.open.get(event.interaction_id) if event.interaction_id else None
    done = state.done.get(event.interaction_id) if event.interaction_id else None
    if record is not None:
        record.dazzle = event.event_id
        add_evidence(record, event.event_id, config)
    elif done is not None:
        if report_card.upgraded_by_feedback(done.grade, done.policy_blocked, report_card.DELIGHT):
            done.grade = report_card.A
            step.grade(report_card.A)
    else:
        step.grade(report_card.A)
    state.last_dazzle_event = event.event_id
    if step.impulse(config.dazzle_weight, f"a dazzling {event.kind.value}"):
        return
    step.alert(
        DAZZLE_MOMENT,
        f"Customer {state.customer_id} was dazzled ({event.kind.value}, event "
        f"{event.event_id}); dazzle balance now {step.balance:.2f}, loyalty {state.loyalty}.",
        {"dazzle_balance": step.balance or 0.0},
        {"dazzled_balance": config.dazzled_balance},
        [event.event_id],
    )


def _policy(step: _Step, event: Any) -> None:
    state, config = step.state, step.config
    effect = event.effect.value
    step.rule_summary(RULE, event.rule_id, "applied", effect=effect, evidence=(event.event_id,))
    weights = {
        "blocked": config.policy_blocked_weight,
        "redirected": config.policy_redirected_weight,
    }
    weight = weights.get(effect)
    if weight is None:
        return
    hit = friction.RuleHit(event.rule_id, step.at_us, event.event_id, event.interaction_id)
    friction.remember_hit(state.rule_hits, hit, config)
    record = state.open.get(event.interaction_id) if event.interaction_id else None
    if record is not None:
        record.policy_blocked = True
        if len(record.rules) < config.max_rule_hits:
            record.rules.append(event.rule_id)
        add_evidence(record, event.event_id, config)
    step.impulse(-weight, f"rule {event.rule_id} {effect} the customer")


_HANDLERS: dict[str, Callable[[_Step, Any], None]] = {
    "interaction.started": _lifecycle,
    "interaction.connected": _lifecycle,
    "interaction.held": _lifecycle,
    "interaction.transferred": _lifecycle,
    "interaction.ended": _lifecycle,
    "feedback.received": _feedback,
    "sentiment.observed": _sentiment,
    "conversation.note": _note,
    "service.promise_broken": _promise,
    "service.promise_kept": _promise,
    "experience.dazzle": _dazzle,
    "policy.applied": _policy,
}


def score_customer_event(
    state: CustomerState | None, event: Event, config: ScoringConfig
) -> tuple[CustomerState, Emitted]:
    if state is None:
        state = CustomerState(event.customer_id)
    elif event.event_id in state.seen:
        return state, DUPLICATE
    at_us = to_us(event.occurred_at)
    remember(state, event.event_id, at_us, config)
    step = _Step(state, event.event_id, at_us, config)
    _expire(step, getattr(event, "interaction_id", None))
    _HANDLERS[event.type](step, event)
    if is_anonymous(state.customer_id):
        return state, without_customer_outputs(step.result())
    return state, step.result()
