from __future__ import annotations

import argparse
import random
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from cxpulse import replay as replay_cmd
from cxpulse.config.settings import Settings
from cxpulse.replay import replay
from cxpulse.schemas.events import Event, parse_event
from cxpulse.schemas.outputs import Alert, EntityType, ScoreSnapshot
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.customer import CustomerState, score_customer_event
from cxpulse.scoring.entity import EntityState
from cxpulse.scoring.partition import score_partition_record
from cxpulse.scoring.summary import InteractionSummary
from cxpulse.scoring.windows import PartitionClock
from cxpulse.simulate import Simulation, SimulationConfig
from cxpulse.worker.lanes import lane_for
from cxpulse.worker.routes import routes_in

#: The worker's configuration: one lane per partition of the events topic.
CONFIG = Settings().scoring_config()


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


def stream(
    events: list[Event], config: ScoringConfig
) -> tuple[list[Alert], list[bytes], list[str], int]:
    """What the streaming agents do: summaries reach the entity side in emission order, as
    bytes, each a record of the lane (events-topic partition) of its customer carrying that
    lane's high, and every partition hears of every record's high.  Alerts, sorted
    snapshots, sorted insight ids and the number of late summaries.
    """
    customers: dict[str, CustomerState] = {}
    clocks = [PartitionClock() for _ in range(config.lanes)]
    entities: dict[str, EntityState] = {}
    highs: dict[int, int] = {}
    alerts: list[Alert] = []
    snapshots: list[ScoreSnapshot] = []
    insights: list[str] = []
    for event in events:
        state, out = score_customer_event(customers.get(event.customer_id), event, config)
        customers[event.customer_id] = CustomerState.from_bytes(state.to_bytes())
        alerts.extend(out.alerts)
        snapshots.extend(out.snapshots)
        insights.extend(insight.insight_id for insight in out.insights)
        lane = lane_for(event.customer_id, config.lanes)
        for summary in out.summaries:
            received = InteractionSummary.from_bytes(summary.to_bytes())
            highs[lane] = max(highs.get(lane, 0), received.occurred_at_us)
            for partition, clock in enumerate(clocks):
                routes = routes_in(received, None, partition, config.lanes)
                step = score_partition_record(
                    clock,
                    entities.get,
                    [(received, routes)],
                    config,
                    lane=lane,
                    lane_high_us=highs[lane],
                )
                entities.update(
                    (key, EntityState.from_bytes(entity.to_bytes()))
                    for key, entity in step.states.items()
                )
                for routed in step.emitted:
                    alerts.extend(routed.alerts)
                    snapshots.extend(routed.snapshots)
    alerts.sort(key=lambda a: (a.occurred_at, a.alert_id))
    late = sum(entity.late for entity in entities.values())
    return alerts, sorted(snapshot.to_json() for snapshot in snapshots), sorted(insights), late


def reference(
    events: list[Event], config: ScoringConfig
) -> tuple[list[Alert], list[bytes], list[str]]:
    result = replay(events, config)
    return (
        list(result.alerts),
        sorted(snapshot.to_json() for snapshot in result.snapshots),
        sorted(insight.insight_id for insight in result.insights),
    )


def by_lane(events: list[Event], lanes: int) -> list[list[Event]]:
    split: list[list[Event]] = [[] for _ in range(lanes)]
    for event in events:
        split[lane_for(event.customer_id, lanes)].append(event)
    return split


def merge(lanes: list[list[Event]], rnd: random.Random, bias: float) -> list[Event]:
    """One order the lanes may be consumed in: each lane's own order is kept, and a lane
    is picked with a weight ``bias ** index``, so with a large bias the first lanes run far
    ahead of the others in event time (a backlog read unevenly)."""
    pending = [list(reversed(lane)) for lane in lanes if lane]
    merged = []
    while pending:
        (lane,) = rnd.choices(pending, weights=[bias**-i for i in range(len(pending))])
        merged.append(lane.pop())
        if not lane:
            pending.remove(lane)
    return merged


def test_the_stream_gives_the_replay_results_whatever_the_lanes_skew(small: list[Event]) -> None:
    expected = reference(small, CONFIG)
    assert expected[0]
    assert expected[2], "the simulation's notes should give insights"
    assert stream(small, CONFIG) == (*expected, 0)
    lanes = by_lane(small, CONFIG.lanes)
    sequential = [event for lane in lanes for event in lane]  # one lane after the other
    orders = [sequential, merge(lanes, random.Random(1), 1.0), merge(lanes, random.Random(2), 30)]
    for order in orders:
        assert order != small
        assert stream(order, CONFIG) == (*expected, 0)


def stretched(events: list[Event], factor: float) -> list[Event]:
    """The same events over ``factor`` times the event time."""
    start = events[0].occurred_at
    return [
        event.model_copy(update={"occurred_at": start + (event.occurred_at - start) * factor})
        for event in events
    ]


def test_the_stream_gives_the_replay_results_when_a_lane_runs_days_ahead(
    small: list[Event],
) -> None:
    """A crash's catch-up can read one lane days ahead of the others: no window may close
    before every lane has passed it (an 'idle lane' guess once did, and lost summaries)."""
    days = stretched(small, 40.0)
    assert (days[-1].occurred_at - days[0].occurred_at).days >= 3
    expected = reference(days, CONFIG)
    assert any(a.entity_type != "customer" for a in expected[0])
    sequential = [event for lane in by_lane(days, CONFIG.lanes) for event in lane]
    assert stream(sequential, CONFIG) == (*expected, 0)


def test_a_single_lane_watermark_loses_summaries_when_lanes_skew(small: list[Event]) -> None:
    """Why the lanes matter: closing on the latest summary alone, an entity closes windows
    before the slower lanes deliver, and the contents differ from the replay's."""
    one_lane = replace(CONFIG, lanes=1)
    sequential = [event for lane in by_lane(small, CONFIG.lanes) for event in lane]
    alerts, snapshots, _, late = stream(sequential, one_lane)
    assert late > 0
    assert (alerts, snapshots) != reference(small, one_lane)[:2]


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
    # every erratic agent with contacts enough for two scores, and no steady one
    enough = 2 * CONFIG.entity_min_samples
    flaggable = {a.agent_id for a in truth.agents if a.erratic and a.contacts >= enough}
    assert flaggable
    assert flaggable <= drops <= truth.erratic_agent_ids
    # One incident per outage, on its service (the queue's burst is its symptom).
    bursts = [a for a in result.alerts if a.kind == "failure_burst" and a.status == "firing"]
    assert {b.entity_type for b in bursts} == {EntityType.SERVICE}
    window = timedelta(minutes=CONFIG.entity_window_minutes)
    last = events[-1].occurred_at - window - timedelta(minutes=CONFIG.allowed_lateness_minutes)
    for outage in truth.outages:
        if outage.end < last:  # its window has closed
            assert any(
                b.entity_id == outage.service_id
                and outage.start < b.occurred_at <= outage.end + 2 * window
                for b in bursts
            ), outage
    for burst in bursts:  # an outage or its aftermath (customers calling again), nothing else
        assert any(
            o.service_id == burst.entity_id and o.start < burst.occurred_at <= o.end + 2 * window
            for o in truth.outages
        ), burst
    jeopardy = {a.entity_id for a in result.alerts if a.kind == "jeopardy"}
    assert jeopardy
    assert jeopardy <= truth.dazzled_customer_ids
    spike = truth.competitor_spike
    assert spike is not None
    planted = [
        (a.kind, a.entity_id, a.occurred_at)
        for a in result.alerts
        if a.entity_type in {EntityType.COMPETITOR, EntityType.RULE}
    ]
    spike_end = spike.start - timedelta(minutes=spike.start.minute) + window  # its window's end
    assert planted == [
        ("rule_friction", truth.high_friction_rule_id, planted[0][2]),
        ("competitor_spike", spike.competitor, spike_end),
    ]


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
    loud = [a for a in expected.alerts if a.severity != "info"]
    assert f"{len(loud)} alerts" in err
    assert f"{len(expected.alerts) - len(loud)} notices" in err
    written = (tmp_path / "alerts.jsonl").read_bytes().splitlines()
    assert [Alert.model_validate_json(line) for line in written] == loud
    assert len((tmp_path / "snapshots.jsonl").read_bytes().splitlines()) == len(expected.snapshots)


def test_the_command_fails_cleanly_on_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = replay_cmd.run(_args(tmp_path, tmp_path / "nope.jsonl", snapshots=False), Settings())
    assert code == 2
    assert "cannot read" in capsys.readouterr().err
