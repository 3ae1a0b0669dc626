"""The crash soak's pure parts: its kill plans, the comparison with the replay, the report."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bench.soak import (
    DOUBLE_KILL_EVERY,
    FIRST_KILL_SHARES,
    Comparison,
    Expected,
    KillPlan,
    KillPoint,
    RunResult,
    compare,
    diagnosis,
    exit_status,
    expected_outputs,
    other_differences_line,
    plan_runs,
    progress_line,
    settings_for,
    summary_line,
)
from cxpulse.config.settings import Settings
from cxpulse.edge.decode import Rejection, decode_event
from cxpulse.replay import replay

Json = dict[str, Any]


def alert(alert_id: str, **fields: Any) -> Json:
    return {
        "alert_id": alert_id,
        "kind": "consistency_drop",
        "severity": "warning",
        "entity_type": "agent",
        "entity_id": "agent-007",
        "occurred_at": "2025-01-06T15:00:00Z",
        "reason": "consistency 41.9 < 45 after the window from 2025-01-06T14:00:00+00:00",
        "scores": {"consistency": 41.9},
        **fields,
    }


def snapshot(entity_type: str, entity_id: str, event_id: str, **scores: float) -> Json:
    return {
        "entity_type": entity_type,
        "entity_id": entity_id,
        "event_id": event_id,
        "as_of": "2025-01-06T15:00:00Z",
        "scores": scores,
    }


# --- the plans ------------------------------------------------------------------------------


def test_plans_are_seeded_and_spread_one_first_kill_in_each_slice() -> None:
    plans = plan_runs(10, seed=34)
    assert plans == plan_runs(10, seed=34)
    assert plans != plan_runs(10, seed=35)

    low, high = FIRST_KILL_SHARES
    width = (high - low) / 10
    slices = sorted(int((p.share - low) // width) for p in plans)
    assert slices == list(range(10)), [p.share for p in plans]
    assert len({p.stream_seed for p in plans}) == 10
    assert [p.run for p in plans] == list(range(10))


def test_every_third_plan_also_kills_during_the_recovery_and_three_runs_have_one() -> None:
    plans = plan_runs(9, seed=1)
    doubles = [p.run for p in plans if p.second_kill_delay_s is not None]
    assert doubles == [run for run in range(9) if run % DOUBLE_KILL_EVERY == 1]
    assert all(0 <= (p.second_kill_delay_s or 0) <= 0.5 for p in plans)
    assert sum(p.second_kill_delay_s is not None for p in plan_runs(3, seed=7)) == 1


def test_a_short_soak_still_kills_early_and_late() -> None:
    shares = sorted(p.share for p in plan_runs(3, seed=2))
    assert shares[0] < 0.37 < shares[1] < 0.69 < shares[2] <= 1.0


# --- the comparison -------------------------------------------------------------------------


def expected() -> Expected:
    return Expected(
        alerts={"a1": alert("a1"), "a2": alert("a2"), "a3": alert("a3", kind="failure_burst")},
        last_snapshots={
            ("agent", "agent-007"): snapshot("agent", "agent-007", "w2", consistency=41.9),
            ("queue", "q-billing"): snapshot("queue", "q-billing", "w2", consistency=80.0),
        },
    )


def test_the_same_alerts_and_last_snapshots_in_another_order_are_exact() -> None:
    stream_alerts = [alert("a3", kind="failure_burst"), alert("a1"), alert("a2")]
    stream_snapshots = [
        snapshot("queue", "q-billing", "w1", consistency=70.0),  # superseded
        snapshot("agent", "agent-007", "w2", consistency=41.9),
        snapshot("queue", "q-billing", "w2", consistency=80.0),
    ]
    result = compare(stream_alerts, stream_snapshots, expected())
    assert result.exact
    assert (result.published, result.expected, result.entities) == (3, 3, 2)


def test_lost_extra_duplicated_changed_and_snapshot_differences_are_each_found() -> None:
    stream_alerts = [
        alert("a1"),
        alert("a1"),  # published twice
        alert("a2", scores={"consistency": 40.0}),  # other content under the same id
        alert("x9", entity_id="agent-008"),  # an id replay does not compute
    ]  # a3 lost
    stream_snapshots = [
        snapshot("agent", "agent-007", "w1", consistency=55.0),  # the last window is missing
        snapshot("rule", "rule-1", "w1", friction=50.0),  # replay has none
    ]
    result = compare(stream_alerts, stream_snapshots, expected())

    assert not result.exact
    assert [a["alert_id"] for a in result.lost] == ["a3"]
    assert [a["alert_id"] for a in result.extra] == ["x9"]
    assert [(a["alert_id"], n) for a, n in result.duplicated] == [("a1", 2)]
    assert [(got["scores"], want["scores"]) for got, want in result.changed] == [
        ({"consistency": 40.0}, {"consistency": 41.9})
    ]
    by_entity = {d.entity: d for d in result.snapshots}
    assert set(by_entity) == {("agent", "agent-007"), ("queue", "q-billing"), ("rule", "rule-1")}
    assert by_entity[("queue", "q-billing")].stream is None
    assert by_entity[("rule", "rule-1")].replay is None


def test_expected_outputs_are_the_replay_as_the_topics_carry_it() -> None:
    def event(n: int, **fields: Any) -> bytes:
        return orjson.dumps(
            {
                "event_id": f"e{n}",
                "customer_id": "cust-1",
                "occurred_at": f"2025-01-06T08:0{n}:00Z",
                **fields,
            }
        )

    lines = [
        event(1, type="experience.dazzle", kind="goodwill"),
        event(2, type="service.promise_broken", promise="outage"),
        b"{not json",  # replay skips what it cannot decode; so must the reference
    ]
    settings = Settings(partitions=4)
    got = expected_outputs(lines, settings)

    decoded = [decode_event(line, settings.max_event_bytes) for line in lines]
    events = [e for e in decoded if not isinstance(e, Rejection)]
    reference = replay(events, settings.scoring_config(), with_snapshots=True)
    assert reference.alerts, "the stream should raise an alert"
    assert got.alerts == {a.alert_id: orjson.loads(a.to_json()) for a in reference.alerts}
    assert got.last_snapshots == {
        ("customer", "cust-1"): orjson.loads(reference.snapshots[-1].to_json())
    }


def test_settings_for_reads_the_workers_environment_only() -> None:
    settings = settings_for(
        {"CXPULSE_PARTITIONS": "3", "CXPULSE_NOT_A_SETTING": "x", "PATH": "/usr/bin"}
    )
    assert settings.partitions == 3
    assert settings.scoring_config().lanes == 3


# --- the report -----------------------------------------------------------------------------


def run_result(comparison: Comparison | None, error: str | None = None) -> RunResult:
    result = RunResult(KillPlan(0, 34_000, 0.37, 0.2), events=20_000, seconds=31.0)
    result.kills = [
        KillPoint(
            "the first kill -9",
            {"input": {0: 1_900, 1: 2_000, 2: 1_800, 3: 1_700}, "summaries": {0: 41}},
        ),
        KillPoint("a second kill -9 0.20 s into table recovery", {"input": {0: 5_000}}),
    ]
    result.comparison = comparison
    result.error = error
    return result


def lossy() -> Comparison:
    return compare([alert("a1"), alert("a2")], [], expected())


def test_a_differing_run_prints_the_alerts_and_the_offsets_at_each_kill() -> None:
    lines = diagnosis(run_result(lossy()))
    text = "\n".join(lines)
    lost = next(line for line in lines if "a3" in line)
    for part in ("failure_burst", "agent", "agent-007", "2025-01-06T15:00:00Z", "window from"):
        assert part in lost, lost
    assert "1 lost" in text
    assert "2 last snapshot differs" in text
    assert (
        "committed at the first kill -9: 7,400/20,000 input committed (37%): "
        "input p0=1900 p1=2000 p2=1800 p3=1700 | events nothing | summaries p0=41"
    ) in text
    assert "committed at a second kill -9 0.20 s into table recovery: 5,000/20,000" in text


def test_the_progress_line_says_where_it_was_killed_and_the_verdict() -> None:
    line = progress_line(run_result(lossy()), runs=10)
    assert line.startswith(
        "run 1/10 (stream seed 34000, 20,000 events, kill -9 planned at 37% of the input "
        "committed, fell at 37%"
    )
    assert "then again: a second kill -9 0.20 s into table recovery" in line
    assert "NOT EXACT: lost 1, extra 0, duplicated 0, changed 0, snapshots 2" in line
    exact = compare([alert("a1"), alert("a2"), alert("a3", kind="failure_burst")], [], expected())
    assert "ERROR: boom" in progress_line(run_result(exact, error="boom"), runs=10)


def test_the_summary_counts_runs_with_each_defect() -> None:
    clean = Expected(alerts={"a1": alert("a1")}, last_snapshots={})
    exact = compare([alert("a1")], [], clean)
    duplicated = compare([alert("a1"), alert("a1")], [], clean)
    lost_and_extra = compare([alert("b1")], [], clean)
    changed = compare([alert("a1", reason="other")], [], clean)
    results = [run_result(c) for c in (exact, exact, duplicated, lost_and_extra, changed)]
    results.append(run_result(None, error="RunError: not at rest in time"))
    assert summary_line(results) == "runs 6 / exact 2 / lost 1 / extra 1 / duplicated 1"
    assert other_differences_line(results) == (
        "not exact 4: changed content 1 / snapshots differ 0 / errors 1"
    )


@pytest.mark.parametrize(
    ("guarantee", "defect", "status"),
    [
        ("exactly_once", "none", 0),
        ("exactly_once", "duplicated", 1),
        ("exactly_once", "changed", 1),
        ("exactly_once", "lost", 1),
        ("at_least_once", "duplicated", 0),
        ("at_least_once", "lost", 1),
        ("exactly_once", "error", 2),
        ("at_least_once", "cut short", 2),
    ],
)
def test_the_exit_status_follows_the_guarantee(guarantee: Any, defect: str, status: int) -> None:
    clean = Expected(alerts={"a1": alert("a1")}, last_snapshots={})
    stream = {
        "none": [alert("a1")],
        "duplicated": [alert("a1"), alert("a1")],
        "changed": [alert("a1", reason="other")],
        "lost": [],
        "error": [alert("a1")],
        "cut short": [alert("a1")],
    }[defect]
    results = [
        run_result(compare([alert("a1")], [], clean)),
        run_result(compare(stream, [], clean)),
    ]
    if defect == "error":
        results[1].comparison = None
        results[1].error = "RunError: not at rest in time"
    asked = 3 if defect == "cut short" else 2
    assert exit_status(results, asked, guarantee) == status


def test_a_stalled_run_is_reported_with_what_the_topics_held_then() -> None:
    clean = Expected(alerts={"a1": alert("a1"), "a2": alert("a2")}, last_snapshots={})
    stalled = run_result(
        compare([alert("a1")], [], clean),
        error="stalled: nothing committed for 60 s; behind: t1-summaries[3] 1 of 35",
    )
    line = progress_line(stalled, runs=1)
    assert "ERROR: stalled: nothing committed for 60 s; behind: t1-summaries[3] 1 of 35" in line
    assert "as the topics stood then: NOT EXACT: lost 1" in line
    assert not stalled.exact
    assert summary_line([stalled]) == "runs 1 / exact 0 / lost 1 / extra 0 / duplicated 0"
    assert exit_status([stalled], 1, "at_least_once") == 1
    nothing_lost = run_result(compare([alert("a1"), alert("a2")], [], clean), error="stalled")
    assert exit_status([nothing_lost], 1, "exactly_once") == 2
