"""``python -m bench.signal``: how well the alerts find what a seeded simulation planted.

A seeded simulation (or ``--events`` with its ``--truth`` file) is scored in-process by
``cxpulse.replay.replay`` with the worker's scoring configuration
(``Settings().scoring_config()``: one lane per partition, as ``cxpulse replay`` does).  The
alerts are then matched against the ground truth:

* **recall**, per planted condition: the share of planted instances that at least one
  firing alert detects;
* **precision**, per condition: the share of the firing alerts of the detecting kinds that
  detect a planted instance (an alert another planted condition explains is left out);
* **loud alerts** per 1,000 contacts: firing alerts of severity warning or critical, with
  jeopardy counted apart;
* alerts per kind, and **incidents per outage**: distinct group keys of the firing
  ``failure_burst`` alerts that detect the outage.

Matching is generic: an alert detects a planted instance when its kind is one of the
condition's kinds (``DETECTORS``, below), its (entity type, entity id) is one of the
instance's entities, and its event time lies in the instance's span, extended by the
detector's grace.  Alerts without a ``status`` count as firing; without a ``group_key``,
each alert is its own incident.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from cxpulse.config.settings import Settings
from cxpulse.edge.decode import Rejection, decode_event
from cxpulse.replay import replay
from cxpulse.schemas.events import Event
from cxpulse.simulate import GroundTruth, Simulation, SimulationConfig
from cxpulse.simulate.config import add_staffing_arguments, staffing_from_args

#: Planted condition -> the alerts that detect it: entity types, kinds, and how long after
#: the condition ends an alert still counts (None: any time until the end of the run).
#: The one place to update when the alert kinds change.
DETECTORS: dict[str, tuple[tuple[str, ...], tuple[str, ...], timedelta | None]] = {
    "erratic agent": (("agent",), ("consistency_drop",), None),
    "outage": (("queue", "service"), ("failure_burst",), timedelta(hours=2)),
    "jeopardy (dazzled, then a broken promise)": (("customer",), ("jeopardy",), timedelta(0)),
    "jeopardy (dazzled, then another de-dazzle)": (("customer",), ("jeopardy",), timedelta(0)),
    "competitor spike": (("competitor",), ("competitor_spike",), timedelta(hours=2)),
    "friction rule": (("rule",), ("rule_friction",), None),
}
ERRATIC, OUTAGE, JEOPARDY_BROKEN, JEOPARDY_OTHER, SPIKE, FRICTION = DETECTORS
#: The kind counted apart from the other loud alerts.
JEOPARDY_KIND = "jeopardy"
LOUD = frozenset({"warning", "critical"})
FIRING = "firing"
#: Erratic agents by the contacts an hour they are planned to handle: (label, lowest rate).
BANDS: tuple[tuple[str, float], ...] = (
    (">= 5 contacts/h", 5.0),
    ("1-5 contacts/h", 1.0),
    ("< 1 contact/h (a few a day)", 0.0),
)


@dataclass(frozen=True, slots=True)
class Seen:
    """One published alert, as far as matching needs it."""

    kind: str
    severity: str
    entity_type: str
    entity_id: str
    at: datetime
    alert_id: str
    status: str = FIRING
    group_key: str = ""

    @property
    def firing(self) -> bool:
        return self.status == FIRING

    @property
    def incident(self) -> str:
        return self.group_key or self.alert_id

    @classmethod
    def of(cls, alert: Any) -> Seen:
        """From a ``cxpulse.schemas.outputs.Alert`` (whatever fields its version has)."""
        return cls(
            kind=alert.kind,
            severity=_text(alert.severity),
            entity_type=_text(alert.entity_type),
            entity_id=alert.entity_id,
            at=alert.occurred_at,
            alert_id=alert.alert_id,
            status=_text(getattr(alert, "status", FIRING)),
            group_key=getattr(alert, "group_key", "") or "",
        )


def _text(value: Any) -> str:
    return str(getattr(value, "value", value))


@dataclass(frozen=True, slots=True)
class Planted:
    """One planted instance of a condition: who, and when (``end`` None: until the end)."""

    condition: str
    name: str
    entities: frozenset[tuple[str, str]]
    start: datetime
    end: datetime | None
    band: str = ""
    #: Steady agents are planted too, as what must not be flagged.
    negative: bool = False


def detects(alert: Seen, planted: Planted) -> bool:
    entity_types, kinds, grace = DETECTORS[planted.condition]
    if alert.kind not in kinds or alert.entity_type not in entity_types:
        return False
    if (alert.entity_type, alert.entity_id) not in planted.entities:
        return False
    if alert.at < planted.start:
        return False
    return grace is None or planted.end is None or alert.at <= planted.end + grace


def band_of(per_hour: float) -> str:
    return next(label for label, lowest in BANDS if per_hour >= lowest)


def planted_from_truth(truth: GroundTruth) -> list[Planted]:
    start = truth.start or datetime.min
    planted = [
        Planted(
            ERRATIC,
            agent.agent_id,
            frozenset({("agent", agent.agent_id)}),
            start,
            None,
            band_of(agent.planned_per_hour),
            negative=not agent.erratic,
        )
        for agent in truth.agents
    ]
    if not truth.agents:  # a truth file of the first simulator: ids only
        planted += [
            Planted(ERRATIC, a, frozenset({("agent", a)}), start, None, negative=n)
            for ids, n in ((truth.erratic_agent_ids, False), (truth.steady_agent_ids, True))
            for a in sorted(ids)
        ]
    planted += [
        Planted(
            OUTAGE,
            f"{o.queue_id} {o.start:%H:%M}",
            frozenset({("queue", o.queue_id), ("service", o.service_id)}),
            o.start,
            o.end,
        )
        for o in truth.outages
    ]
    planted += [
        Planted(
            JEOPARDY_BROKEN if j.cause == "promise_broken" else JEOPARDY_OTHER,
            j.customer_id,
            frozenset({("customer", j.customer_id)}),
            j.at,
            j.at,
        )
        for j in truth.jeopardy
    ]
    if (spike := truth.competitor_spike) is not None:
        planted.append(
            Planted(
                SPIKE,
                spike.competitor,
                frozenset({("competitor", spike.competitor)}),
                spike.start,
                spike.end,
            )
        )
    rule = truth.high_friction_rule_id
    planted.append(Planted(FRICTION, rule, frozenset({("rule", rule)}), start, None))
    return planted


# --- the metrics ------------------------------------------------------------------------


@dataclass(slots=True)
class Detection:
    """Recall and precision of one condition (or one band of it)."""

    planted: int = 0
    detected: int = 0
    #: Firing alerts of the detecting kinds: all (bar those another condition explains),
    #: and those that detect a planted instance.
    alerts: int = 0
    matched: int = 0
    #: Negatives (steady agents) planted, and flagged anyway.
    negatives: int = 0
    false_flags: int = 0
    #: Hours from the start of the run to the first detection, per detected instance.
    hours_to_detect: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return self.detected / self.planted if self.planted else None

    @property
    def precision(self) -> float | None:
        return self.matched / self.alerts if self.alerts else None

    def to_json(self) -> dict[str, Any]:
        hours = self.hours_to_detect
        return {
            "planted": self.planted,
            "detected": self.detected,
            "recall": self.recall,
            "alerts": self.alerts,
            "matched": self.matched,
            "precision": self.precision,
            "negatives": self.negatives,
            "false_flags": self.false_flags,
            "median_hours_to_detect": statistics.median(hours) if hours else None,
        }


@dataclass(slots=True)
class Report:
    contacts: int
    conditions: dict[str, Detection]
    bands: dict[str, Detection]
    loud_per_1000: float
    jeopardy_per_1000: float
    by_kind: dict[str, Counter[str]]
    #: Per outage: distinct incidents (group keys) of the firing alerts that detect it.
    incidents_per_outage: list[int]
    run: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        incidents = self.incidents_per_outage
        return {
            "run": self.run,
            "contacts": self.contacts,
            "conditions": {name: d.to_json() for name, d in self.conditions.items()},
            "erratic_agents_by_band": {name: d.to_json() for name, d in self.bands.items()},
            "loud_alerts_per_1000_contacts": {
                "besides_jeopardy": self.loud_per_1000,
                "jeopardy": self.jeopardy_per_1000,
            },
            "alerts_by_kind": {kind: dict(c) for kind, c in sorted(self.by_kind.items())},
            "incidents_per_outage": {
                "each": incidents,
                "mean": statistics.fmean(incidents) if incidents else None,
                "max": max(incidents, default=None),
                "exactly_one": sum(1 for n in incidents if n == 1),
            },
        }


def measure(planted: Sequence[Planted], alerts: Iterable[Seen], contacts: int) -> Report:
    """Match ``alerts`` against ``planted``; see the module docstring for the definitions."""
    alerts = list(alerts)
    firing = [a for a in alerts if a.firing]
    conditions = {name: Detection() for name in DETECTORS}
    bands = {label: Detection() for label, _ in BANDS}
    by_entity: dict[tuple[str, str], list[Planted]] = {}
    for p in planted:
        for entity in p.entities:
            by_entity.setdefault(entity, []).append(p)
    # Which planted instances each firing alert detects.
    detected_by: dict[int, list[Planted]] = {}
    for index, alert in enumerate(firing):
        candidates = by_entity.get((alert.entity_type, alert.entity_id), ())
        detected_by[index] = [p for p in candidates if detects(alert, p)]
    first_hit: dict[int, datetime] = {}
    for index, hits in detected_by.items():
        for p in hits:
            key = id(p)
            at = firing[index].at
            first_hit[key] = min(first_hit.get(key, at), at)
    for p in planted:
        targets = [conditions[p.condition]]
        if p.condition == ERRATIC and p.band:
            targets.append(bands[p.band])
        hit = first_hit.get(id(p))
        for d in targets:
            if p.negative:
                d.negatives += 1
                d.false_flags += hit is not None
                continue
            d.planted += 1
            if hit is not None:
                d.detected += 1
                d.hours_to_detect.append((hit - p.start).total_seconds() / 3600)
    for name, detection in conditions.items():
        entity_types, kinds, _ = DETECTORS[name]
        for index, alert in enumerate(firing):
            if alert.kind not in kinds or alert.entity_type not in entity_types:
                continue
            hits = detected_by[index]
            mine = any(p.condition == name and not p.negative for p in hits)
            others = any(p.condition != name and not p.negative for p in hits)
            if mine or not others:
                detection.alerts += 1
                detection.matched += mine
    loud = [a for a in firing if a.severity in LOUD]
    jeopardy = sum(1 for a in loud if a.kind == JEOPARDY_KIND)
    per_1000 = 1000 / contacts if contacts else 0.0
    by_kind: dict[str, Counter[str]] = {}
    for alert in alerts:
        by_kind.setdefault(alert.kind, Counter())[f"{alert.severity}/{alert.status}"] += 1
    incidents = [
        len(
            {
                firing[i].incident
                for i, hits in detected_by.items()
                if any(h is p for h in hits) and firing[i].kind in DETECTORS[OUTAGE][1]
            }
        )
        for p in planted
        if p.condition == OUTAGE
    ]
    return Report(
        contacts=contacts,
        conditions=conditions,
        bands=bands,
        loud_per_1000=(len(loud) - jeopardy) * per_1000,
        jeopardy_per_1000=jeopardy * per_1000,
        by_kind=by_kind,
        incidents_per_outage=incidents,
    )


# --- rendering --------------------------------------------------------------------------


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render(report: Report) -> str:
    run = report.run
    lines = []
    if run:
        lines.append(
            f"signal quality: {run.get('source', '')}; {run.get('events', 0):,} events, "
            f"{report.contacts:,} contacts over {run.get('hours', 0):.1f} h; "
            f"{run.get('seconds', 0):.1f} s"
        )
    header = f"{'condition':<44} {'planted':>7} {'found':>6} {'recall':>6} "
    header += f"{'alerts':>7} {'match':>6} {'precision':>9}"
    lines += [header, "-" * len(header)]

    def row(name: str, d: Detection) -> str:
        return (
            f"{name:<44} {d.planted:>7} {d.detected:>6} {_ratio(d.recall):>6} "
            f"{d.alerts:>7} {d.matched:>6} {_ratio(d.precision):>9}"
        )

    for name, detection in report.conditions.items():
        lines.append(row(name, detection))
        if name == ERRATIC:
            for label, band in report.bands.items():
                found = band.hours_to_detect
                after = f", found after {statistics.median(found):.1f} h" if found else ""
                lines.append(
                    f"  {label:<42} {band.planted:>7} {band.detected:>6} "
                    f"{_ratio(band.recall):>6}   steady flagged {band.false_flags} "
                    f"of {band.negatives}{after}"
                )
    incidents = report.incidents_per_outage
    lines.append("")
    if incidents:
        lines.append(
            f"incidents per outage: mean {statistics.fmean(incidents):.1f}, max "
            f"{max(incidents)}, exactly one for {sum(n == 1 for n in incidents)} of "
            f"{len(incidents)} outages"
        )
    lines.append(
        f"loud alerts (warning + critical, firing) per 1,000 contacts: "
        f"{report.loud_per_1000:.1f} besides jeopardy, {report.jeopardy_per_1000:.1f} jeopardy"
    )
    lines.append("alerts by kind (severity/status: count):")
    for kind, counts in sorted(report.by_kind.items(), key=lambda kv: -kv[1].total()):
        detail = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
        lines.append(f"  {kind:<28} {counts.total():>6}  ({detail})")
    return "\n".join(lines)


# --- command line ------------------------------------------------------------------------


def _decoded(lines: Iterable[bytes], max_bytes: int, rejected: list[int]) -> Iterator[Event]:
    for line in lines:
        if not line.strip():
            continue
        decoded = decode_event(line, max_bytes)
        if isinstance(decoded, Rejection):
            rejected[0] += 1
            continue
        yield decoded


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.signal",
        description="Score the alerts of a seeded simulation against its ground truth.",
    )
    defaults = SimulationConfig()
    parser.add_argument("--count", type=int, default=60_000, help="events [default 60000]")
    parser.add_argument("--seed", type=int, default=3, help="random seed [default 3]")
    parser.add_argument(
        "--contacts-per-minute",
        type=float,
        default=defaults.contacts_per_minute,
        help=f"new contacts per minute of event time [default {defaults.contacts_per_minute:g}]",
    )
    parser.add_argument(
        "--customers", type=int, default=defaults.customers, help="number of customers"
    )
    add_staffing_arguments(parser)
    parser.add_argument(
        "--events", type=Path, default=None, help="score this JSONL instead (needs --truth)"
    )
    parser.add_argument(
        "--truth", type=Path, default=None, help="the truth file of --events (simulate --truth)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    return parser


def run(args: argparse.Namespace, settings: Settings) -> Report:
    started = time.perf_counter()
    rejected = [0]
    if args.events is not None:
        truth = GroundTruth.from_json(orjson.loads(args.truth.read_bytes()))
        with args.events.open("rb") as source:
            events = list(_decoded(source, settings.max_event_bytes, rejected))
        described = f"{args.events} with {args.truth}"
    else:
        config = SimulationConfig(
            seed=args.seed,
            count=args.count,
            customers=args.customers,
            contacts_per_minute=args.contacts_per_minute,
            **staffing_from_args(args),
        )
        simulation = Simulation(config, settings.scoring_config())
        raw = (orjson.dumps(event) for event in simulation.events())
        events = list(_decoded(raw, settings.max_event_bytes, rejected))
        truth = simulation.truth()
        described = f"simulation seed {args.seed}"
    generated = time.perf_counter()
    result = replay(events, settings.scoring_config(), with_snapshots=False)
    scored = time.perf_counter()
    report = measure(planted_from_truth(truth), map(Seen.of, result.alerts), truth.contacts)
    notices = Counter(getattr(n, "kind", "?") for n in getattr(result, "notices", ()))
    report.run = {
        "source": described,
        "events": len(events),
        "rejected": rejected[0],
        "hours": truth.hours,
        "lanes": settings.scoring_config().lanes,
        "notices_by_kind": dict(sorted(notices.items())),
        "generate_seconds": generated - started,
        "replay_seconds": scored - generated,
        "seconds": time.perf_counter() - started,
    }
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if (args.events is None) != (args.truth is None):
        print("bench.signal: --events and --truth go together", file=sys.stderr)
        return 2
    try:
        report = run(args, Settings())
    except (OSError, ValueError) as exc:
        print(f"bench.signal: {exc}", file=sys.stderr)
        return 2
    print(render(report))
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
