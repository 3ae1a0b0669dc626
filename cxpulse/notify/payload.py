"""Alerts as Alertmanager sees them, and the firing alerts ``cxpulse notify`` keeps re-sending.

Pure: no Kafka, no HTTP.  Written against the ``Alert`` model only, never a list of kinds:
a new kind reaches Alertmanager as a new ``alertname`` with nothing to change here.

An Alertmanager alert is identified by its label set.  The labels therefore name the
condition (kind, entity, group key), never one record of it: every update of a condition
updates one Alertmanager alert, and its resolution resolves that very alert.  What differs
between records (the reason, the evidence, the alert id) goes into the annotations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from cxpulse.schemas.outputs import Alert, AlertStatus

#: The label that carries an entity's id where the entity type tells what the id is.
ENTITY_ID_LABEL = {"queue": "queue_id", "service": "service_id", "agent": "agent_id"}
#: The Grafana dashboard of each entity type, and its variable for the entity, if any.
DASHBOARD_UID = "cxpulse-service-experience"
DASHBOARD_VARIABLE = {"queue": "queue", "agent": "agent"}
#: Evidence ids beyond this many are counted, not listed, in the annotation.
MAX_EVIDENCE = 20
#: Firing alerts are valid in Alertmanager for this many re-send intervals (as Prometheus
#: does): if cxpulse notify stops re-sending, Alertmanager resolves them after that.
VALID_FOR_RESENDS = 4

AlertmanagerAlert = dict[str, Any]
Identity = tuple[str, str, str, str]


def group_key(alert: Alert) -> str:
    """The alert's group key, or one per kind and entity when the record has none."""
    return alert.group_key or f"{alert.kind}:{alert.entity_type.value}:{alert.entity_id}"


def identity(alert: Alert) -> Identity:
    """What one Alertmanager alert stands for: a kind on an entity, within a condition."""
    return (group_key(alert), alert.kind, alert.entity_type.value, alert.entity_id)


def alert_labels(alert: Alert) -> dict[str, str]:
    entity_type = alert.entity_type.value
    result = {
        "alertname": alert.kind,
        "severity": alert.severity.value,
        "entity_type": entity_type,
        "entity_id": alert.entity_id,
        "group_key": group_key(alert),
    }
    id_label = ENTITY_ID_LABEL.get(entity_type)
    if id_label is not None:
        result[id_label] = alert.entity_id
    return result


def dashboard_link(alert: Alert, grafana_url: str) -> str | None:
    """The Grafana dashboard of the alert's entity (filtered to it where it has a variable)."""
    if not grafana_url:
        return None
    link = f"{grafana_url.rstrip('/')}/d/{DASHBOARD_UID}"
    variable = DASHBOARD_VARIABLE.get(alert.entity_type.value)
    if variable is not None:
        link += "?" + urlencode({f"var-{variable}": alert.entity_id})
    return link


def alert_annotations(alert: Alert, grafana_url: str) -> dict[str, str]:
    evidence = alert.evidence[:MAX_EVIDENCE]
    more = len(alert.evidence) - len(evidence)
    result = {
        "summary": alert.reason,
        "reason": alert.reason,
        "evidence": ", ".join(evidence) + (f" (and {more} more)" if more > 0 else ""),
        "alert_id": alert.alert_id,
        "occurred_at": alert.occurred_at.isoformat(),
    }
    if alert.scores:
        result["scores"] = ", ".join(f"{k}={v:g}" for k, v in sorted(alert.scores.items()))
    if alert.thresholds:
        result["thresholds"] = ", ".join(f"{k}={v:g}" for k, v in sorted(alert.thresholds.items()))
    link = dashboard_link(alert, grafana_url)
    if link is not None:
        result["dashboard"] = link
    return {key: value for key, value in result.items() if value}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Held:
    """A firing alert as last sent, kept to be re-sent (or resolved) later."""

    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str | None
    starts_at: datetime
    seen_ms: int  # Kafka timestamp of the latest record of it: expiry runs on this
    partition: int

    def firing(self, ends_at: datetime) -> AlertmanagerAlert:
        return self._payload(max(ends_at, self.starts_at))

    def resolved(self, at: datetime) -> AlertmanagerAlert:
        return self._payload(max(at, self.starts_at))

    def _payload(self, ends_at: datetime) -> AlertmanagerAlert:
        payload: AlertmanagerAlert = {
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": _iso(self.starts_at),
            "endsAt": _iso(ends_at),
        }
        if self.generator_url:
            payload["generatorURL"] = self.generator_url
        return payload


@dataclass(frozen=True)
class Post:
    """One alert to post: rendered at each attempt, so that a firing alert posted after an
    outage is valid from then on (rendered when read, it could arrive already ended)."""

    held: Held
    resolved_at: datetime | None = None
    valid_for: timedelta = timedelta(0)

    def render(self, now: datetime) -> AlertmanagerAlert:
        if self.resolved_at is not None:
            return self.held.resolved(self.resolved_at)
        return self.held.firing(now + self.valid_for)


class FiringAlerts:
    """The firing alerts of the assigned partitions, by group key.

    ``apply`` takes each record of the alerts topic in order and returns the Alertmanager
    alerts to post for it: a firing record updates (or starts) its alert; a resolved record
    resolves every alert of its group key, since a group key is one condition, and every
    firing record of that key published before it, whenever it is read.  An update
    whose labels changed (say, its severity rose) also resolves the alert it replaces, so
    that nothing is left firing under the old labels.
    """

    def __init__(self, grafana_url: str, resend_interval_s: float) -> None:
        self.grafana_url = grafana_url
        self.valid_for = timedelta(seconds=VALID_FOR_RESENDS * resend_interval_s)
        self._groups: dict[str, dict[Identity, Held]] = {}
        #: Group keys resolved: the Kafka timestamp of the resolution and its time.
        self._resolved: dict[str, tuple[int, datetime]] = {}

    def __len__(self) -> int:
        return sum(len(group) for group in self._groups.values())

    def apply(self, alert: Alert, seen_ms: int, partition: int, now: datetime) -> list[Post]:
        # An event time ahead of the clock (a simulation running ahead) starts now.
        at = min(alert.occurred_at, now)
        key = group_key(alert)
        held = Held(
            labels=alert_labels(alert),
            annotations=alert_annotations(alert, self.grafana_url),
            generator_url=dashboard_link(alert, self.grafana_url),
            starts_at=at,
            seen_ms=seen_ms,
            partition=partition,
        )
        if alert.status is AlertStatus.RESOLVED:
            self._resolved[key] = (seen_ms, at)
            group = self._groups.pop(key, {})
            own = group.pop(identity(alert), None)
            if own is not None:  # resolves the alert that started then
                held.starts_at = own.starts_at
            others = [Post(h, at) for h in group.values() if h.labels != held.labels]
            return [Post(held, at), *others]
        resolved = self._resolved.get(key)
        if resolved is not None and seen_ms <= resolved[0]:
            # Published before its condition's resolution, read after it (from another
            # partition, or in a rebuild that reads one partition after the other):
            # resolved already, so it is posted resolved and not held.
            return [Post(held, max(resolved[1], held.starts_at))]
        group = self._groups.setdefault(key, {})
        previous = group.get(identity(alert))
        replaced: list[Post] = []
        if previous is not None:
            if previous.labels == held.labels:
                held.starts_at = min(previous.starts_at, at)
            else:
                replaced.append(Post(previous, at))
        group[identity(alert)] = held
        return [Post(held, valid_for=self.valid_for), *replaced]

    def forget(self, alert: Alert) -> None:
        """Drop an alert Alertmanager refused: re-sending it would only be refused again."""
        group = self._groups.get(group_key(alert))
        if group is not None:
            group.pop(identity(alert), None)
            if not group:
                del self._groups[group_key(alert)]

    def expire(self, oldest_ms: int) -> int:
        """Stop holding alerts last seen before ``oldest_ms``; how many were dropped."""
        for key in [k for k, (seen_ms, _) in self._resolved.items() if seen_ms < oldest_ms]:
            del self._resolved[key]
        return self._drop(lambda held: held.seen_ms < oldest_ms)

    def drop_partitions(self, partitions: set[int]) -> int:
        """Forget the alerts read from partitions this process no longer owns."""
        return self._drop(lambda held: held.partition in partitions)

    def _drop(self, condition: Any) -> int:
        dropped = 0
        for key in list(self._groups):
            group = self._groups[key]
            for ident in [i for i, held in group.items() if condition(held)]:
                del group[ident]
                dropped += 1
            if not group:
                del self._groups[key]
        return dropped

    def resend(self) -> list[Post]:
        """Every held alert, firing (valid for ``VALID_FOR_RESENDS`` intervals once posted)."""
        return [
            Post(held, valid_for=self.valid_for)
            for group in self._groups.values()
            for held in group.values()
        ]
