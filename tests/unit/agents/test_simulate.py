from __future__ import annotations

import argparse
import asyncio
import io
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxpulse.agents.settings import Settings
from cxpulse.agents.simulate import (
    SOURCE,
    CustomerSpread,
    GroundTruth,
    Json,
    Simulation,
    SimulationConfig,
    generate,
    ground_truth,
)
from cxpulse.agents.simulate_kafka import add_arguments, produce, run
from cxpulse.schemas.events import EVENT_TYPES, parse_event


def simulate(config: SimulationConfig) -> tuple[list[Json], GroundTruth]:
    simulation = Simulation(config)
    events = list(simulation.events())
    return events, simulation.truth()


def when(event: Json) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


def originals(events: list[Json]) -> list[Json]:
    seen: set[str] = set()
    kept = []
    for event in events:
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            kept.append(event)
    return kept


@pytest.fixture(scope="module")
def default_run() -> tuple[list[Json], GroundTruth]:
    return simulate(SimulationConfig(count=20_000))


@pytest.fixture(scope="module")
def big_run() -> tuple[list[Json], GroundTruth]:
    """Enough contacts per erratic agent to measure spreads."""
    return simulate(SimulationConfig(seed=11, count=80_000, duplicate_fraction=0.0))


# --- contract ----------------------------------------------------------------------------


def test_every_event_validates(default_run: tuple[list[Json], GroundTruth]) -> None:
    events, _ = default_run
    for event in events:
        parsed = parse_event(orjson.dumps(event))
        assert parsed.event_id == event["event_id"]
        assert parsed.source == SOURCE
        assert event["occurred_at"].endswith("Z")


def test_all_event_types_occur(default_run: tuple[list[Json], GroundTruth]) -> None:
    events, _ = default_run
    assert {e["type"] for e in events} == set(EVENT_TYPES)
    outcomes = Counter(e["outcome"] for e in events if e["type"] == "interaction.ended")
    assert set(outcomes) == {"resolved", "unresolved", "abandoned", "escalated"}
    assert outcomes.most_common(1)[0][0] == "resolved"


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    count=st.integers(0, 400),
    queues=st.integers(1, 8),
    duplicates=st.sampled_from([0.0, 0.01, 0.3]),
)
def test_any_seed_and_shape_gives_valid_ordered_events(
    seed: int, count: int, queues: int, duplicates: float
) -> None:
    config = SimulationConfig(
        seed=seed,
        count=count,
        queues=queues,
        agents=queues * 2,
        erratic_agents=1,
        customers=50,
        duplicate_fraction=duplicates,
        outage_every_minutes=5,
    )
    events = list(generate(config))
    assert len(events) == count
    times = [when(e) for e in events]
    assert times == sorted(times)
    for event in events:
        parse_event(orjson.dumps(event))


# --- determinism and ordering ------------------------------------------------------------


def test_same_config_same_events_and_truth() -> None:
    config = SimulationConfig(seed=3, count=3_000)
    first, first_truth = simulate(config)
    second, second_truth = simulate(config)
    assert first == second
    assert first_truth == second_truth


def test_different_seeds_differ() -> None:
    first = list(generate(SimulationConfig(seed=1, count=500)))
    second = list(generate(SimulationConfig(seed=2, count=500)))
    assert [e["customer_id"] for e in first] != [e["customer_id"] for e in second]
    assert {e["event_id"] for e in first}.isdisjoint(e["event_id"] for e in second)


def test_event_time_never_goes_back_and_spans_hours(
    default_run: tuple[list[Json], GroundTruth],
) -> None:
    events, _ = default_run
    times = [when(e) for e in events]
    assert all(a <= b for a, b in pairwise(times))
    assert times[0] == SimulationConfig().start
    assert (times[-1] - times[0]).total_seconds() > 2 * 3600


@pytest.mark.parametrize("contacts_per_minute", [5.0, 50.0])
def test_contact_rate_sets_the_event_time_span(contacts_per_minute: float) -> None:
    config = SimulationConfig(count=None, contacts_per_minute=contacts_per_minute)
    started = [e for e in islice(generate(config), 20_000) if e["type"] == "interaction.started"]
    minutes = (when(started[-1]) - when(started[0])).total_seconds() / 60
    # Standalone contacts and repeat contacts make the interaction rate differ a little.
    assert contacts_per_minute * 0.8 < len(started) / minutes < contacts_per_minute * 1.2


def test_event_ids_are_unique_and_seeded(default_run: tuple[list[Json], GroundTruth]) -> None:
    events, _ = default_run
    unique = originals(events)
    assert len({e["event_id"] for e in unique}) == len(unique)
    assert all(e["event_id"].startswith("sim-7-") for e in unique)


# --- lifecycles --------------------------------------------------------------------------

DURING = {"interaction.held", "interaction.transferred", "policy.applied", "conversation.note"}
AFTER = {"feedback.received", "sentiment.observed", "experience.dazzle"}


def check_lifecycle(steps: list[Json]) -> None:
    kinds = [e["type"] for e in steps]
    assert kinds[0] == "interaction.started"
    assert kinds.count("interaction.started") == 1
    assert kinds.count("interaction.ended") == 1
    assert len({(e["channel"], e["queue_id"], e["customer_id"]) for e in steps}) == 1
    ended_at = kinds.index("interaction.ended")
    ended = steps[ended_at]
    if ended["outcome"] == "abandoned":
        assert set(kinds) <= {"interaction.started", "service.promise_broken", "interaction.ended"}
        assert "agent_id" not in ended
        return
    connected_at = kinds.index("interaction.connected")
    assert kinds.count("interaction.connected") == 1
    assert set(kinds[connected_at + 1 : ended_at]) <= DURING
    assert set(kinds[ended_at + 1 :]) <= AFTER
    assert len({e["agent_id"] for e in steps[connected_at:]}) == 1
    assert ended["wait_seconds"] == steps[connected_at]["wait_seconds"]
    assert ended["transfers"] == kinds.count("interaction.transferred")
    holds = sum(e["hold_seconds"] for e in steps if e["type"] == "interaction.held")
    assert ended["hold_seconds"] == pytest.approx(holds, abs=0.2)
    assert ended["hold_seconds"] < ended["handle_seconds"]


def test_every_interaction_is_a_complete_ordered_lifecycle(
    default_run: tuple[list[Json], GroundTruth],
) -> None:
    events, _ = default_run
    by_interaction: dict[str, list[Json]] = defaultdict(list)
    for event in originals(events):
        if "interaction_id" in event:
            by_interaction[event["interaction_id"]].append(event)
    assert len(by_interaction) > 2_000
    for steps in by_interaction.values():
        check_lifecycle(steps)


# --- scenarios ---------------------------------------------------------------------------


def spread(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.pstdev(values)


def test_erratic_agents_swing_around_the_same_mean(
    big_run: tuple[list[Json], GroundTruth],
) -> None:
    events, truth = big_run
    assert len(truth.erratic_agent_ids) == 3
    assert len(truth.steady_agent_ids) == 37
    assert truth.erratic_agent_ids.isdisjoint(truth.steady_agent_ids)
    handle: dict[bool, list[float]] = defaultdict(list)
    csat: dict[bool, list[float]] = defaultdict(list)
    for event in events:
        if "agent_id" not in event or event["channel"] != "voice":
            continue
        erratic = event["agent_id"] in truth.erratic_agent_ids
        if event["type"] == "interaction.ended":
            handle[erratic].append(event["handle_seconds"])
        elif event["type"] == "feedback.received":
            csat[erratic].append(event["csat"])
    assert min(len(csat[True]), len(csat[False])) > 150
    (erratic_handle, erratic_handle_sd), (steady_handle, steady_handle_sd) = (
        spread(handle[True]),
        spread(handle[False]),
    )
    (erratic_csat, erratic_csat_sd), (steady_csat, steady_csat_sd) = (
        spread(csat[True]),
        spread(csat[False]),
    )
    assert erratic_handle_sd > 2.5 * steady_handle_sd
    assert erratic_csat_sd > 1.8 * steady_csat_sd
    assert erratic_handle == pytest.approx(steady_handle, rel=0.1)
    assert erratic_csat == pytest.approx(steady_csat, abs=0.35)


def test_outage_windows_hold_the_broken_promises_and_the_failures() -> None:
    config = SimulationConfig(seed=5, count=30_000, outage_every_minutes=30)
    events, truth = simulate(config)
    assert len(truth.outages) >= 3
    in_window: Counter[int] = Counter()
    for event in events:
        if event["type"] == "service.promise_broken" and event["promise"] == "outage":
            windows = [
                i
                for i, w in enumerate(truth.outages)
                if w.contains(when(event))
                and w.service_id == event["service_id"]
                and w.queue_id == event["queue_id"]
            ]
            assert len(windows) == 1
            in_window[windows[0]] += 1
    assert all(in_window[i] >= 10 for i in range(len(truth.outages) - 1))

    started = {e["interaction_id"]: when(e) for e in events if e["type"] == "interaction.started"}
    unresolved: dict[bool, list[bool]] = defaultdict(list)
    for event in events:
        if event["type"] == "interaction.ended" and event["outcome"] != "abandoned":
            began = started[event["interaction_id"]]
            hit = any(w.queue_id == event["queue_id"] and w.contains(began) for w in truth.outages)
            unresolved[hit].append(event["outcome"] != "resolved")
    assert statistics.fmean(unresolved[True]) > statistics.fmean(unresolved[False]) + 0.3


def test_dazzled_and_jeopardy_customers_match_the_events(
    default_run: tuple[list[Json], GroundTruth],
) -> None:
    events, truth = default_run
    dazzled: set[str] = set()
    jeopardy: set[str] = set()
    for event in events:
        if event["type"] == "experience.dazzle":
            dazzled.add(event["customer_id"])
        elif event["type"] == "service.promise_broken" and event["customer_id"] in dazzled:
            jeopardy.add(event["customer_id"])
    assert truth.dazzled_customer_ids == dazzled
    assert truth.jeopardy_customer_ids == jeopardy
    assert len(jeopardy) >= 20
    kinds = {e["kind"] for e in events if e["type"] == "experience.dazzle"}
    assert kinds == {"proactive_outreach", "goodwill", "personalised_help", "compliment"}


def test_the_high_friction_rule_blocks_most(default_run: tuple[list[Json], GroundTruth]) -> None:
    events, truth = default_run
    effects: dict[str, Counter[str]] = defaultdict(Counter)
    for event in events:
        if event["type"] == "policy.applied":
            effects[event["rule_id"]][event["effect"]] += 1
    assert truth.high_friction_rule_id in effects

    def friction(rule: str) -> float:
        return 1 - effects[rule]["allowed"] / effects[rule].total()

    assert friction(truth.high_friction_rule_id) > 0.6
    assert all(friction(r) < 0.3 for r in effects if r != truth.high_friction_rule_id)


def competitor_notes(events: list[Json], competitor: str) -> list[Json]:
    return [
        e for e in originals(events) if e["type"] == "conversation.note" and competitor in e["text"]
    ]


def test_one_competitor_spikes_in_its_window_over_a_steady_background() -> None:
    config = SimulationConfig(count=30_000)
    events, truth = simulate(config)
    spike = truth.competitor_spike
    assert spike is not None
    assert spike.competitor in truth.competitors
    assert (spike.end - spike.start).total_seconds() == config.competitor_spike_minutes * 60
    hourly: dict[str, Counter[int]] = {c: Counter() for c in truth.competitors}
    for competitor in truth.competitors:
        for note in competitor_notes(events, competitor):
            hourly[competitor][when(note).hour] += 1
    spiking = hourly[spike.competitor]
    spike_hour = spike.start.hour
    assert spiking[spike_hour] > 3 * max(n for h, n in spiking.items() if h != spike_hour)
    assert spike.mentions > 0
    assert spiking[spike_hour] >= spike.mentions
    for competitor in set(truth.competitors) - {spike.competitor}:  # the steady background
        assert 0 < 3 * max(hourly[competitor].values()) < spiking[spike_hour], competitor
    assert truth.to_json()["competitor_spike"]["competitor"] == spike.competitor


def test_without_a_spike_the_truth_has_none() -> None:
    _, truth = simulate(SimulationConfig(count=20_000, competitor_spike_after_minutes=0.0))
    assert truth.competitor_spike is not None
    _, truth = simulate(SimulationConfig(count=20_000, competitor_spike_after_minutes=None))
    assert truth.competitor_spike is None
    assert truth.to_json()["competitor_spike"] is None


def test_blocked_customers_come_back(default_run: tuple[list[Json], GroundTruth]) -> None:
    """The high-friction rule's customers start another contact soon after."""
    events, truth = default_run
    blocked: dict[str, datetime] = {}
    came_back = 0
    for event in originals(events):
        customer = event["customer_id"]
        if (
            event["type"] == "policy.applied"
            and event["rule_id"] == truth.high_friction_rule_id
            and event["effect"] != "allowed"
        ):
            blocked[customer] = when(event)
        elif event["type"] == "interaction.started" and customer in blocked:
            came_back += (when(event) - blocked.pop(customer)).total_seconds() < 3_600
    assert came_back > 0.3 * (came_back + len(blocked))


# --- duplicates and count ----------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.05])
def test_duplicates_are_verbatim_resends_at_the_configured_rate(fraction: float) -> None:
    events, truth = simulate(SimulationConfig(count=40_000, duplicate_fraction=fraction))
    first: dict[str, Json] = {}
    duplicates = 0
    for event in events:
        if event["event_id"] in first:
            duplicates += 1
            assert event == first[event["event_id"]]
        else:
            first[event["event_id"]] = event
    assert truth.duplicates == duplicates
    assert truth.events == len(events)
    if fraction == 0:
        assert duplicates == 0
    else:
        assert duplicates / len(events) == pytest.approx(fraction, rel=0.2)


@pytest.mark.parametrize("count", [0, 1, 7, 999])
def test_count_is_exact(count: int) -> None:
    events, truth = simulate(SimulationConfig(count=count))
    assert len(events) == count
    assert truth.events == count


def test_no_count_is_endless_and_has_no_final_truth() -> None:
    config = SimulationConfig(count=None)
    assert len(list(islice(generate(config), 30_000))) == 30_000
    with pytest.raises(ValueError, match="finite count"):
        ground_truth(config)


def test_ground_truth_describes_the_whole_run() -> None:
    config = SimulationConfig(seed=9, count=2_000)
    assert ground_truth(config) == simulate(config)[1]


def test_a_simulation_runs_once() -> None:
    simulation = Simulation(SimulationConfig(count=10))
    list(simulation.events())
    with pytest.raises(RuntimeError, match="runs once"):
        list(simulation.events())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start": datetime(2025, 1, 1)}, "timezone-aware"),
        ({"count": -1}, "count"),
        ({"customers": 0}, "customers"),
        ({"customer_spread": "uniform"}, "customer_spread"),
        ({"agents": 3, "queues": 4}, "one agent per queue"),
        ({"erratic_agents": 41}, "erratic_agents"),
        ({"duplicate_fraction": 0.5}, "duplicate_fraction"),
        ({"contacts_per_minute": 0.0}, "contacts_per_minute"),
        ({"feedback_probability": 1.5}, "feedback_probability"),
    ],
)
def test_bad_config_is_rejected(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**change)


@pytest.mark.parametrize(
    ("spread", "most_over_fewest"),
    [("skewed", (4.0, float("inf"))), ("even", (1.0, 2.0))],
)
def test_customer_spread_sets_how_contacts_divide_among_customers(
    spread: CustomerSpread, most_over_fewest: tuple[float, float]
) -> None:
    config = SimulationConfig(count=3_000, customers=60, customer_spread=spread)
    events, _ = simulate(config)
    interactions = Counter(
        e["customer_id"]
        for e in {e["interaction_id"]: e for e in events if "interaction_id" in e}.values()
    )
    low, high = most_over_fewest
    assert len(interactions) == config.customers
    assert low <= max(interactions.values()) / min(interactions.values()) <= high


def test_even_spread_reaches_every_customer_before_any_twice() -> None:
    customers = 500
    events, _ = simulate(
        SimulationConfig(
            count=2_000,
            customers=customers,
            customer_spread="even",
            friction_repeat_probability=0.0,
            duplicate_fraction=0.0,
        )
    )
    first_contact = {e["interaction_id"]: e["customer_id"] for e in events if "interaction_id" in e}
    contacted = Counter(first_contact.values())
    assert len(first_contact) < customers
    assert max(contacted.values()) == 1


# --- producing to a file -----------------------------------------------------------------


def test_produce_writes_the_events_as_json_lines(tmp_path: Path) -> None:
    config = SimulationConfig(seed=4, count=1_500)
    output = tmp_path / "events.jsonl"
    progress = io.StringIO()
    summary = asyncio.run(produce(Settings(), config, None, output, progress))
    lines = output.read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == list(generate(config))
    assert summary.sent == 1_500
    assert summary.truth == ground_truth(config)
    assert f"sent 1500 events ({summary.truth.duplicates} duplicates)" in progress.getvalue()


def test_produce_rejects_a_non_positive_rate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rate"):
        asyncio.run(produce(Settings(), SimulationConfig(count=1), 0.0, tmp_path / "x", None))


def parse_cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_run_writes_events_and_truth_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output, truth = tmp_path / "events.jsonl", tmp_path / "truth.json"
    args = parse_cli(
        ["--count", "300", "--seed", "2", "--output", str(output), "--truth", str(truth)]
    )
    assert run(args, Settings()) == 0
    events = [orjson.loads(line) for line in output.read_bytes().splitlines()]
    assert events == list(generate(SimulationConfig(seed=2, count=300)))
    assert when(events[0]) == SimulationConfig().start
    written = orjson.loads(truth.read_bytes())
    assert written == ground_truth(SimulationConfig(seed=2, count=300)).to_json()
    assert "sent 300 events" in capsys.readouterr().err


def test_run_honours_start(tmp_path: Path) -> None:
    output = tmp_path / "events.jsonl"
    args = parse_cli(["--count", "5", "--output", str(output), "--start", "2024-03-01T10:00:00Z"])
    assert run(args, Settings()) == 0
    first = orjson.loads(output.read_bytes().splitlines()[0])
    assert when(first) == datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_run_reports_a_bad_knob(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_cli(["--duplicates", "0.7", "--output", str(tmp_path / "events.jsonl")])
    assert run(args, Settings()) == 2
    assert "duplicate_fraction" in capsys.readouterr().err


@pytest.mark.parametrize("start", ["2024-03-01T10:00:00", "yesterday"])
def test_start_must_be_now_or_an_aware_time(start: str) -> None:
    with pytest.raises(SystemExit):
        parse_cli(["--start", start])
