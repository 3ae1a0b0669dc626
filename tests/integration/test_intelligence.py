"""Conversation intelligence and rule friction on the real broker, checked against replay.

The simulator plants a competitor spike over a steady background of competitor mentions
and one high-friction rule; the worker must raise exactly those alerts, and publish the
same insights and alerts as ``cxpulse replay`` of the same events.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from cxpulse.simulate import Simulation, SimulationConfig
from tests.integration.conftest import REPO, Worker
from tests.integration.kafka_io import collect_ids, produce_events

#: Few contacts per minute, many of them with a competitor note or a rule: hours of event
#: time (a spike needs a baseline of earlier windows) in a few thousand events.
SIMULATION = SimulationConfig(
    seed=5,
    count=5_000,
    contacts_per_minute=3.0,
    competitor_note_probability=0.3,
    competitor_spike_probability=0.9,
    policy_probability=0.5,
)
PLANTED_KINDS = {"competitor_spike", "churn_intent_spike", "rule_friction"}


def read_jsonl(path: Path) -> dict[str, dict[str, object]]:
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return {str(r.get("alert_id") or r["insight_id"]): r for r in records}


def test_planted_spike_and_friction_alert_and_stream_equals_replay(
    worker: Worker, tmp_path: Path
) -> None:
    simulation = Simulation(SIMULATION)
    events = list(simulation.events())
    truth = simulation.truth()
    assert truth.competitor_spike is not None
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    alerts_file, insights_file = tmp_path / "alerts.jsonl", tmp_path / "insights.jsonl"
    outputs = ["--alerts", str(alerts_file), "--insights", str(insights_file)]
    subprocess.run(
        [sys.executable, "-m", "cxpulse.commands.cli", "replay", str(events_file), *outputs],
        check=True,
        cwd=REPO,
        timeout=120,
        env=worker.env,
    )
    expected_alerts, expected_insights = read_jsonl(alerts_file), read_jsonl(insights_file)
    planted = sorted(
        (str(a["kind"]), str(a["entity_id"]))
        for a in expected_alerts.values()
        if a["kind"] in PLANTED_KINDS
    )
    # the spike and the rule, and nothing from the steady background
    assert planted == [
        ("competitor_spike", truth.competitor_spike.competitor),
        ("rule_friction", truth.high_friction_rule_id),
    ]
    assert {i["kind"] for i in expected_insights.values()} >= {"competitor", "cue", "churn_intent"}

    bootstrap = worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    produce_events(bootstrap, worker.topic("input"), events)
    streamed_alerts = collect_ids(
        bootstrap, worker.topic("alerts"), set(expected_alerts), timeout_s=60.0, settle_s=2.0
    )
    streamed_insights = collect_ids(
        bootstrap,
        worker.topic("insights"),
        set(expected_insights),
        id_field="insight_id",
        timeout_s=60.0,
        settle_s=2.0,
    )
    for streamed, expected, key in (
        (streamed_alerts, expected_alerts, "alert_id"),
        (streamed_insights, expected_insights, "insight_id"),
    ):
        ids = [r[key] for r in streamed]
        assert len(ids) == len(set(ids)), f"a {key} was published twice"
        assert set(ids) == set(expected), {
            "missing": sorted(set(expected) - set(ids))[:5],
            "extra": sorted(set(ids) - set(expected))[:5],
        }
        assert all(r == expected[r[key]] for r in streamed)
