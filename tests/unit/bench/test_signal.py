from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.signal import (
    ERRATIC,
    FRICTION,
    JEOPARDY_BROKEN,
    JEOPARDY_OTHER,
    OUTAGE,
    SPIKE,
    Planted,
    Seen,
    band_of,
    detects,
    main,
    measure,
    planted_from_truth,
    render,
)
from cxpulse.schemas.outputs import Alert
from cxpulse.simulate import (
    AgentTruth,
    CompetitorSpike,
    GroundTruth,
    JeopardyTruth,
    OutageWindow,
    Simulation,
    SimulationConfig,
)

T0 = datetime(2025, 1, 6, 8, tzinfo=UTC)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def seen(
    kind: str,
    entity: str,
    at: datetime,
    *,
    severity: str = "warning",
    status: str = "firing",
    group: str = "",
    alert_id: str | None = None,
) -> Seen:
    entity_type, _, entity_id = entity.partition(":")
    return Seen(
        kind=kind,
        severity=severity,
        entity_type=entity_type,
        entity_id=entity_id,
        at=at,
        alert_id=alert_id or f"{kind}/{entity}/{at.isoformat()}/{status}",
        status=status,
        group_key=group,
    )


def agent(agent_id: str, *, erratic: bool, band: str = ">= 5 contacts/h") -> Planted:
    return Planted(
        ERRATIC, agent_id, frozenset({("agent", agent_id)}), T0, None, band, negative=not erratic
    )


OUTAGE_Q1 = Planted(
    OUTAGE, "q1", frozenset({("queue", "q1"), ("service", "svc-1")}), hours(1), hours(1.25)
)


# --- one alert against one planted instance ------------------------------------------------


@pytest.mark.parametrize(
    ("alert", "planted", "expected"),
    [
        (seen("consistency_drop", "agent:a1", hours(30)), agent("a1", erratic=True), True),
        (seen("consistency_drop", "agent:a2", hours(3)), agent("a1", erratic=True), False),
        (seen("consistency_drop", "queue:a1", hours(3)), agent("a1", erratic=True), False),
        (seen("failure_burst", "agent:a1", hours(3)), agent("a1", erratic=True), False),
        (seen("failure_burst", "queue:q1", hours(2)), OUTAGE_Q1, True),
        (seen("failure_burst", "service:svc-1", hours(1.1)), OUTAGE_Q1, True),
        (seen("failure_burst", "queue:q1", hours(0.9)), OUTAGE_Q1, False),  # before it began
        (seen("failure_burst", "queue:q1", hours(3.25)), OUTAGE_Q1, True),  # within the grace
        (seen("failure_burst", "queue:q1", hours(3.3)), OUTAGE_Q1, False),  # after the grace
        (seen("failure_burst", "queue:q2", hours(1.1)), OUTAGE_Q1, False),
    ],
)
def test_an_alert_detects_its_kind_on_its_entity_in_its_time(
    alert: Seen, planted: Planted, expected: bool
) -> None:
    assert detects(alert, planted) is expected


@pytest.mark.parametrize(
    ("per_hour", "band"),
    [
        (8.0, ">= 5 contacts/h"),
        (5.0, ">= 5 contacts/h"),
        (3.0, "1-5 contacts/h"),
        (0.25, "< 1 contact/h (a few a day)"),
    ],
)
def test_agents_fall_in_volume_bands(per_hour: float, band: str) -> None:
    assert band_of(per_hour) == band


# --- the metrics -----------------------------------------------------------------------------


def test_erratic_agent_recall_precision_and_false_flags() -> None:
    planted = [
        agent("e1", erratic=True),
        agent("e2", erratic=True, band="1-5 contacts/h"),
        agent("s1", erratic=False),
        agent("s2", erratic=False, band="1-5 contacts/h"),
    ]
    alerts = [
        seen("consistency_drop", "agent:e1", hours(5)),
        seen("consistency_drop", "agent:e1", hours(9)),
        seen("consistency_drop", "agent:s1", hours(2)),
    ]
    report = measure(planted, alerts, contacts=1_000)
    erratic = report.conditions[ERRATIC]
    assert (erratic.planted, erratic.detected, erratic.recall) == (2, 1, 0.5)
    assert (erratic.alerts, erratic.matched) == (3, 2)
    assert erratic.precision == pytest.approx(2 / 3)
    assert (erratic.negatives, erratic.false_flags) == (2, 1)
    assert erratic.hours_to_detect == [5.0]  # the first detection counts
    high, low = report.bands[">= 5 contacts/h"], report.bands["1-5 contacts/h"]
    assert (high.planted, high.detected, high.false_flags) == (1, 1, 1)
    assert (low.planted, low.detected, low.false_flags) == (1, 0, 0)
    table = render(report)
    assert "steady flagged 1 of 1, found after 5.0 h" in table
    assert "steady flagged 0 of 1\n" in table


def test_resolved_alerts_detect_nothing_and_are_not_loud() -> None:
    planted = [agent("e1", erratic=True)]
    alerts = [seen("consistency_drop", "agent:e1", hours(5), status="resolved")]
    report = measure(planted, alerts, contacts=1_000)
    assert report.conditions[ERRATIC].detected == 0
    assert report.conditions[ERRATIC].alerts == 0
    assert report.loud_per_1000 == 0
    assert report.by_kind["consistency_drop"] == {"warning/resolved": 1}


@pytest.mark.parametrize(
    ("groups", "incidents"),
    [
        (["burst-q1", "burst-q1", "burst-q1"], 1),  # one incident, updated
        (["burst-q1", "burst-q1", "burst-svc-1"], 2),
        (["", "", ""], 3),  # no group keys: each alert is its own incident
    ],
)
def test_incidents_per_outage_count_distinct_group_keys(groups: list[str], incidents: int) -> None:
    entities = ["queue:q1", "queue:q1", "service:svc-1"]
    alerts = [
        seen("failure_burst", entity, hours(1.5 + i / 10), severity="critical", group=group)
        for i, (entity, group) in enumerate(zip(entities, groups, strict=True))
    ]
    alerts.append(seen("failure_burst", "queue:q2", hours(1.5), severity="critical", group="x"))
    report = measure([OUTAGE_Q1], alerts, contacts=100)
    assert report.incidents_per_outage == [incidents]
    outage = report.conditions[OUTAGE]
    assert (outage.detected, outage.alerts, outage.matched) == (1, 4, 3)


def test_loud_alerts_per_thousand_contacts_count_jeopardy_apart() -> None:
    alerts = [
        seen("jeopardy", "customer:c1", hours(1), severity="critical"),
        seen("jeopardy", "customer:c2", hours(1), severity="critical"),
        seen("core_service_failure", "customer:c3", hours(1), severity="warning"),
        seen("failure_burst", "queue:q1", hours(1), severity="critical"),
        seen("dazzle_moment", "customer:c4", hours(1), severity="info"),
        seen("failure_burst", "queue:q1", hours(2), severity="critical", status="resolved"),
    ]
    report = measure([], alerts, contacts=500)
    assert report.loud_per_1000 == pytest.approx(2 * 1000 / 500)
    assert report.jeopardy_per_1000 == pytest.approx(2 * 1000 / 500)
    assert report.by_kind["failure_burst"] == {"critical/firing": 1, "critical/resolved": 1}


def test_a_jeopardy_another_condition_explains_does_not_cost_precision() -> None:
    planted = [
        Planted(JEOPARDY_BROKEN, "c1", frozenset({("customer", "c1")}), hours(1), hours(1)),
        Planted(JEOPARDY_OTHER, "c2", frozenset({("customer", "c2")}), hours(2), hours(2)),
    ]
    alerts = [
        seen("jeopardy", "customer:c1", hours(1), severity="critical"),
        seen("jeopardy", "customer:c2", hours(2), severity="critical"),
        seen("jeopardy", "customer:c3", hours(3), severity="critical"),  # nothing planted
    ]
    report = measure(planted, alerts, contacts=100)
    broken, other = report.conditions[JEOPARDY_BROKEN], report.conditions[JEOPARDY_OTHER]
    assert (broken.recall, broken.alerts, broken.matched) == (1.0, 2, 1)
    assert (other.recall, other.alerts, other.matched) == (1.0, 2, 1)


def test_nothing_planted_gives_no_ratio() -> None:
    report = measure([], [], contacts=0)
    assert report.conditions[SPIKE].recall is None
    assert report.conditions[SPIKE].precision is None
    assert report.loud_per_1000 == 0
    assert report.to_json()["incidents_per_outage"]["mean"] is None


alert_kinds = st.sampled_from(["consistency_drop", "failure_burst", "jeopardy", "lost"])
entities = st.sampled_from(["agent:e1", "agent:s1", "queue:q1", "customer:c1", "rule:r1"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(alert_kinds, entities, st.floats(0, 48), st.sampled_from(["firing", "resolved"])),
        max_size=30,
    )
)
def test_ratios_stay_within_bounds_and_noise_never_adds_recall(
    raw: list[tuple[str, str, float, str]],
) -> None:
    planted = [
        agent("e1", erratic=True),
        agent("s1", erratic=False),
        OUTAGE_Q1,
        Planted(JEOPARDY_BROKEN, "c1", frozenset({("customer", "c1")}), hours(3), hours(3)),
        Planted(FRICTION, "r1", frozenset({("rule", "r1")}), T0, None),
    ]
    alerts = [seen(k, e, hours(h), status=s) for k, e, h, s in raw]
    report = measure(planted, alerts, contacts=1_000)
    for detection in report.conditions.values():
        assert 0 <= detection.detected <= detection.planted
        assert 0 <= detection.matched <= detection.alerts
    # Alerts of kinds no condition listens to change no recall or precision.
    noise = [seen("lost", "customer:c9", hours(1), severity="critical")] * 5
    louder = measure(planted, [*alerts, *noise], contacts=1_000)
    assert {n: d.to_json() for n, d in louder.conditions.items()} == {
        n: d.to_json() for n, d in report.conditions.items()
    }
    assert louder.loud_per_1000 == pytest.approx(report.loud_per_1000 + 5)


def test_seen_reads_an_alert_with_or_without_lifecycle_fields() -> None:
    alert = Alert.model_validate(
        {
            "alert_id": "a1",
            "kind": "failure_burst",
            "severity": "critical",
            "entity_type": "queue",
            "entity_id": "q1",
            "occurred_at": "2025-01-06T09:00:00Z",
            "reason": "r",
        }
    )
    read = Seen.of(alert)
    assert (read.kind, read.severity, read.entity_type, read.entity_id) == (
        "failure_burst",
        "critical",
        "queue",
        "q1",
    )
    assert read.firing
    assert read.incident in {"a1", getattr(alert, "group_key", "")}


# --- from the simulator's truth ----------------------------------------------------------------


def test_the_truth_becomes_planted_instances() -> None:
    agents = (
        AgentTruth("a1", "q1", "voice", True, False, 8.0, 60, 7.5),
        AgentTruth("a2", "q1", "email", False, False, 3.0, 20, 2.5),
        AgentTruth("a3", "q1", "voice", True, True, 0.25, 2, 0.3),
    )
    truth = GroundTruth(
        events=100,
        duplicates=0,
        erratic_agent_ids=frozenset({"a1", "a3"}),
        steady_agent_ids=frozenset({"a2"}),
        outages=(OutageWindow("q1", "svc-1", hours(1), hours(1.25), 30, 28, 20),),
        dazzled_customer_ids=frozenset({"c1", "c2"}),
        jeopardy_customer_ids=frozenset({"c1"}),
        high_friction_rule_id="r1",
        competitor_spike=CompetitorSpike("Telvia", hours(3), hours(3.5), 40),
        start=T0,
        end=hours(10),
        arrivals_end=hours(9),
        agents=agents,
        jeopardy=(
            JeopardyTruth("c1", hours(2), "e1", "promise_broken", 0.9),
            JeopardyTruth("c2", hours(4), "e2", "dismay", 1.2),
        ),
    )
    planted = planted_from_truth(truth)
    by_condition: dict[str, list[Planted]] = {}
    for p in planted:
        by_condition.setdefault(p.condition, []).append(p)
    assert [(p.name, p.negative, p.band) for p in by_condition[ERRATIC]] == [
        ("a1", False, ">= 5 contacts/h"),
        ("a2", True, "1-5 contacts/h"),
        ("a3", False, "< 1 contact/h (a few a day)"),
    ]
    assert by_condition[OUTAGE][0].entities == {("queue", "q1"), ("service", "svc-1")}
    assert [p.name for p in by_condition[JEOPARDY_BROKEN]] == ["c1"]
    assert [p.name for p in by_condition[JEOPARDY_OTHER]] == ["c2"]
    assert [p.name for p in by_condition[SPIKE]] == ["Telvia"]
    assert [p.name for p in by_condition[FRICTION]] == ["r1"]


# --- the command -----------------------------------------------------------------------------


def test_the_command_scores_a_simulation_and_its_files_alike(tmp_path: Path) -> None:
    config = SimulationConfig(seed=4, count=6_000)
    simulation = Simulation(config)
    events = list(simulation.events())
    events_file, truth_file = tmp_path / "events.jsonl", tmp_path / "truth.json"
    events_file.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    truth_file.write_bytes(orjson.dumps(simulation.truth().to_json()))

    in_process, from_files = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["--count", "6000", "--seed", "4", "--json", str(in_process)]) == 0
    files = ["--events", str(events_file), "--truth", str(truth_file)]
    assert main([*files, "--json", str(from_files)]) == 0
    first, second = orjson.loads(in_process.read_bytes()), orjson.loads(from_files.read_bytes())
    for key in ("conditions", "erratic_agents_by_band", "alerts_by_kind", "contacts"):
        assert first[key] == second[key], key
    assert first["run"]["events"] == 6_000
    assert first["contacts"] == simulation.truth().contacts
    assert set(first["conditions"]) >= {ERRATIC, OUTAGE, JEOPARDY_BROKEN, SPIKE, FRICTION}
    assert first["conditions"][FRICTION]["planted"] == 1


def test_events_without_truth_are_refused(tmp_path: Path) -> None:
    assert main(["--events", str(tmp_path / "events.jsonl")]) == 2
