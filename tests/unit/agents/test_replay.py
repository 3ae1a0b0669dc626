from __future__ import annotations

import argparse
import random
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from cxpulse.agents import replay as replay_cmd
from cxpulse.agents.replay import replay
from cxpulse.agents.scoring.config import ScoringConfig
from cxpulse.agents.scoring.customer import CustomerState, score_customer_event
from cxpulse.agents.scoring.entity import EntityState, score_entity_summary, summary_routes
from cxpulse.agents.scoring.summary import InteractionSummary
from cxpulse.agents.settings import Settings
from cxpulse.agents.simulate import Simulation, SimulationConfig
from cxpulse.schemas.events import Event, parse_event
from cxpulse.schemas.outputs import Alert, EntityType

CONFIG = ScoringConfig()


def simulated(count: int, seed: int = 7) -> tuple[list[Event], Simulation]:
    simulation = Simulation(SimulationConfig(count=count, seed=seed))
    events = [parse_event(orjson.dumps(event)) for event in simulation.events()]
    return events, simulation


@pytest.fixture(scope="module")
def small() -> list[Event]:
    return simulated(6_000, seed=3)[0]


def interleave(events: list[Event], rnd: random.Random) -> list[Event]:
    """Another cross-customer interleaving; each customer's own order is kept."""
    queues: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        queues[event.customer_id].append(event)
    for queue in queues.values():
        queue.reverse()
    tickets = [event.customer_id for event in events]
    rnd.shuffle(tickets)
    return [queues[customer].pop() for customer in tickets]


def stream(events: list[Event], config: ScoringConfig) -> list[Alert]:
    """What the streaming agents do: summaries reach entities in emission order, as bytes."""
    customers: dict[str, CustomerState] = {}
    entities: dict[tuple[EntityType, str], EntityState] = {}
    alerts: list[Alert] = []
    for event in events:
        state, out = score_customer_event(customers.get(event.customer_id), event, config)
        customers[event.customer_id] = CustomerState.from_bytes(state.to_bytes())
        alerts.extend(out.alerts)
        for summary in out.summaries:
            for route in summary_routes(summary):
                received = InteractionSummary.from_bytes(summary.to_bytes())
                entity, routed = score_entity_summary(entities.get(route), *route, received, config)
                entities[route] = entity
                alerts.extend(routed.alerts)
    return sorted(alerts, key=lambda a: (a.occurred_at, a.alert_id))


def test_replay_does_not_depend_on_the_cross_customer_interleaving(small: list[Event]) -> None:
    expected = replay(small, CONFIG)
    assert expected.alerts
    for seed in range(3):
        shuffled = interleave(small, random.Random(seed))
        assert shuffled != small
        result = replay(shuffled, CONFIG)
        assert result.alerts == expected.alerts
        assert sorted(s.to_json() for s in result.snapshots) == sorted(
            s.to_json() for s in expected.snapshots
        )


def test_the_stream_gives_the_replay_alerts_under_bounded_disorder(small: list[Event]) -> None:
    expected = replay(small, CONFIG).alerts
    assert stream(small, CONFIG) == list(expected)
    # Disorder across customers of less than the allowed lateness, each customer in order.
    rnd = random.Random(5)
    jitter = timedelta(minutes=CONFIG.allowed_lateness_minutes / 2)
    latest: dict[str, datetime] = {}
    keyed = []
    for index, event in enumerate(small):
        key = event.occurred_at + rnd.random() * jitter
        key = max(key, latest.get(event.customer_id, key))
        latest[event.customer_id] = key
        keyed.append((key, index, event))
    disordered = [event for _, _, event in sorted(keyed)]
    assert disordered != small
    assert stream(disordered, CONFIG) == list(expected)


def test_a_seeded_simulation_flags_what_was_planted() -> None:
    events, simulation = simulated(30_000)
    truth = simulation.truth()
    result = replay(events, CONFIG, with_snapshots=False)
    assert result.duplicates == truth.duplicates
    drops = {
        a.entity_id
        for a in result.alerts
        if a.kind == "consistency_drop" and a.entity_type == EntityType.AGENT
    }
    assert drops == truth.erratic_agent_ids  # every erratic agent, no steady one
    bursts = [a for a in result.alerts if a.kind == "failure_burst" and a.entity_type == "queue"]
    window = timedelta(minutes=CONFIG.entity_window_minutes)
    last = events[-1].occurred_at - window - timedelta(minutes=CONFIG.allowed_lateness_minutes)
    for outage in truth.outages:
        if outage.end < last:  # its window has closed
            assert any(
                b.entity_id == outage.queue_id
                and outage.start < b.occurred_at <= outage.end + 2 * window
                for b in bursts
            ), outage
    for burst in bursts:  # an outage or its aftermath (customers calling again), nothing else
        assert any(
            o.queue_id == burst.entity_id and o.start < burst.occurred_at <= o.end + 2 * window
            for o in truth.outages
        ), burst
    jeopardy = {a.entity_id for a in result.alerts if a.kind == "jeopardy"}
    assert jeopardy
    assert jeopardy <= truth.dazzled_customer_ids


def _args(tmp_path: Path, source: Path, *, snapshots: bool) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    replay_cmd.add_arguments(parser)
    argv = [str(source), "--alerts", str(tmp_path / "alerts.jsonl")]
    if snapshots:
        argv += ["--snapshots", str(tmp_path / "snapshots.jsonl")]
    return parser.parse_args(argv)


def test_the_command_reports_bad_lines_and_writes_alerts(
    tmp_path: Path, small: list[Event], capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [event.model_dump_json(exclude_none=True).encode() for event in small]
    lines.insert(1, b"{not json")
    lines.insert(3, b'{"type": "interaction.exploded"}')
    lines.insert(5, b"")
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    code = replay_cmd.run(_args(tmp_path, source, snapshots=True), Settings())
    assert code == 0
    err = capsys.readouterr().err
    assert "line 2: invalid_json" in err
    assert "line 4: unknown_type" in err
    expected = replay(small, CONFIG)
    assert f"{len(small)} events" in err
    assert "2 bad lines" in err
    assert f"{len(expected.alerts)} alerts" in err
    written = (tmp_path / "alerts.jsonl").read_bytes().splitlines()
    assert [Alert.model_validate_json(line) for line in written] == list(expected.alerts)
    assert len((tmp_path / "snapshots.jsonl").read_bytes().splitlines()) == len(expected.snapshots)


def test_the_command_fails_cleanly_on_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = replay_cmd.run(_args(tmp_path, tmp_path / "nope.jsonl", snapshots=False), Settings())
    assert code == 2
    assert "cannot read" in capsys.readouterr().err
