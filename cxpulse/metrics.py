"""Prometheus metrics, built on an injected ``CollectorRegistry``.

No per-customer labels: cardinality stays bounded.  Agent, queue and rule gauges are capped
at ``max_entity_labels`` distinct ids each; ids beyond the cap are not exported as labels
(their scores still reach the histograms and the ``scores`` topic).  Competitor labels come
from the lexicon, not from the input.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cxpulse.scoring.alerts import SEVERITY

#: The agents that keep state (the ``agent`` label of the processing histogram too).
CUSTOMER_SCORER = "scorer"
ENTITY_SCORER = "entity_scorer"
STATEFUL_AGENTS = (CUSTOMER_SCORER, ENTITY_SCORER)

SCORE_BUCKETS = tuple(float(b) for b in range(0, 101, 10))
BALANCE_BUCKETS = (-10.0, -5.0, -3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PROCESSING_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)


class Metrics:
    def __init__(self, registry: CollectorRegistry, max_entity_labels: int = 500) -> None:
        self.registry = registry
        self.max_entity_labels = max_entity_labels
        self.events = Counter(
            "cxpulse_events",
            "Valid events accepted",
            ["type", "source", "channel"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "cxpulse_dead_letters",
            "Inputs sent to the dead-letter topic",
            ["stage", "reason"],
            registry=registry,
        )
        self.duplicates = Counter(
            "cxpulse_duplicates",
            "Events dropped as duplicates of an earlier event_id",
            registry=registry,
        )
        self.already_applied = Counter(
            "cxpulse_already_applied_records",
            "Input records skipped because the state restored on a restart already held them",
            ["agent"],
            registry=registry,
        )
        for agent in STATEFUL_AGENTS:
            self.already_applied.labels(agent)
        self.alerts = Counter(
            "cxpulse_alerts",
            "Alerts published (severity info: notices, on the notices topic)",
            ["kind", "severity"],
            registry=registry,
        )
        for kind, severity in SEVERITY.items():
            self.alerts.labels(kind, severity.value)
        self.late = Counter(
            "cxpulse_late",
            "Inputs too late in event time to change scores (kind: event | summary)",
            ["kind"],
            registry=registry,
        )
        self.grades = Counter(
            "cxpulse_grades",
            "Report-card grades of finished interactions",
            ["grade"],
            registry=registry,
        )
        self.loyalty_transitions = Counter(
            "cxpulse_loyalty_transitions",
            "Customer loyalty state changes",
            ["from_state", "to_state"],
            registry=registry,
        )
        self.consistency = Histogram(
            "cxpulse_consistency_score",
            "Consistency scores (0-100) as computed",
            ["entity_type"],
            buckets=SCORE_BUCKETS,
            registry=registry,
        )
        self.dazzle_balance = Histogram(
            "cxpulse_dazzle_balance",
            "Customer dazzle minus de-dazzle balance",
            buckets=BALANCE_BUCKETS,
            registry=registry,
        )
        self.agent_consistency = Gauge(
            "cxpulse_agent_consistency",
            "Latest consistency score per agent (capped labels)",
            ["agent_id"],
            registry=registry,
        )
        self.queue_consistency = Gauge(
            "cxpulse_queue_consistency",
            "Latest consistency score per queue (capped labels)",
            ["queue_id"],
            registry=registry,
        )
        self.end_to_end_latency = Histogram(
            "cxpulse_end_to_end_latency_seconds",
            "Wall clock at emission minus the event's occurred_at",
            ["output"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.processing = Histogram(
            "cxpulse_processing_seconds",
            "Time to process one batch in an agent",
            ["agent"],
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "cxpulse_consumer_lag",
            "Messages behind the high-water mark",
            ["topic", "partition"],
            registry=registry,
        )
        self.table_keys = Gauge(
            "cxpulse_table_keys",
            "Keys held in a state table on this worker",
            ["table"],
            registry=registry,
        )
        self.worker_up = Gauge("cxpulse_worker_up", "1 while the worker runs", registry=registry)
        self.worker_ready = Gauge(
            "cxpulse_worker_ready",
            "1 once partitions are assigned and tables recovered",
            registry=registry,
        )
        self.event_time_lag = Gauge(
            "cxpulse_event_time_lag_seconds",
            "Wall clock minus the event time of the last processed event",
            registry=registry,
        )
        self.insights = Counter(
            "cxpulse_insights",
            "Conversation-intelligence insights published",
            ["kind"],
            registry=registry,
        )
        self.competitor_mentions = Counter(
            "cxpulse_competitor_mentions",
            "Mentions of a competitor or its products (competitors come from the lexicon)",
            ["competitor"],
            registry=registry,
        )
        self.rule_friction = Gauge(
            "cxpulse_rule_friction",
            "Friction (0-100) of each rule's latest window (capped labels)",
            ["rule_id"],
            registry=registry,
        )
        self.anonymous_events = Counter(
            "cxpulse_anonymous_events",
            "Events a platform adapter mapped without a known customer (anon: key)",
            ["source", "type"],
            registry=registry,
        )
        self._agent_labels: set[str] = set()
        self._queue_labels: set[str] = set()
        self._rule_labels: set[str] = set()

    def set_entity_consistency(self, entity_type: str, entity_id: str, score: float) -> None:
        if entity_type == "agent":
            self._set_capped(self.agent_consistency, self._agent_labels, entity_id, score)
        elif entity_type == "queue":
            self._set_capped(self.queue_consistency, self._queue_labels, entity_id, score)

    def set_rule_friction(self, rule_id: str, friction: float) -> None:
        self._set_capped(self.rule_friction, self._rule_labels, rule_id, friction)

    def _set_capped(self, gauge: Gauge, seen: set[str], label: str, value: float) -> None:
        if label not in seen:
            if len(seen) >= self.max_entity_labels:
                return
            seen.add(label)
        gauge.labels(label).set(value)


#: Why a request to Alertmanager failed: ``unreachable`` (connection refused, DNS, TLS,
#: timeout), ``server_error`` (5xx), ``throttled`` (429), ``unauthorised`` (401, 403: a
#: configuration problem, retried), ``refused`` (any other 4xx: the alert is invalid).
NOTIFY_FAILURES = ("unreachable", "server_error", "throttled", "unauthorised", "refused")
#: Why ``cxpulse notify`` dead-lettered a record of the alerts topic.
NOTIFY_DEAD_LETTER_REASONS = ("invalid_alert", "refused")
ALERT_STATUSES = ("firing", "resolved")


class NotifyMetrics:
    """Metrics of ``cxpulse notify``; every label value is known in advance and starts at 0."""

    def __init__(self, registry: CollectorRegistry, urls: tuple[str, ...] = ()) -> None:
        self.registry = registry
        self.sent = Counter(
            "cxpulse_notify_sent",
            "Alert records from the alerts topic that Alertmanager accepted",
            ["status"],
            registry=registry,
        )
        self.resent = Counter(
            "cxpulse_notify_resent",
            "Re-sends of still-firing alerts to Alertmanager",
            registry=registry,
        )
        self.failed = Counter(
            "cxpulse_notify_failed",
            "Requests to one Alertmanager that failed",
            ["alertmanager", "reason"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "cxpulse_notify_dead_letters",
            "Alert records sent to the dead-letter topic instead of Alertmanager",
            ["reason"],
            registry=registry,
        )
        self.expired = Counter(
            "cxpulse_notify_expired",
            "Alert records older than the firing expiry when read, not sent",
            registry=registry,
        )
        self.retrying = Gauge(
            "cxpulse_notify_retrying",
            "1 while delivery waits to retry because no Alertmanager accepted the alerts",
            registry=registry,
        )
        self.lag = Gauge(
            "cxpulse_notify_lag",
            "Records of the alerts topic not yet delivered, over the assigned partitions",
            registry=registry,
        )
        self.firing = Gauge(
            "cxpulse_notify_firing",
            "Firing alerts held for re-sending",
            registry=registry,
        )
        self.ready = Gauge(
            "cxpulse_notify_ready",
            "1 while partitions are assigned and Alertmanager accepts alerts (as /readyz)",
            registry=registry,
        )
        for status in ALERT_STATUSES:
            self.sent.labels(status)
        for reason in NOTIFY_DEAD_LETTER_REASONS:
            self.dead_letters.labels(reason)
        for url in urls:
            for reason in NOTIFY_FAILURES:
                self.failed.labels(url, reason)
