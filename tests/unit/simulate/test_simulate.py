from __future__ import annotations

import argparse
import asyncio
import io
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxpulse.commands.simulate import _config_from_args, add_arguments, produce, run
from cxpulse.config.settings import Settings
from cxpulse.schemas.events import EVENT_TYPES, parse_event
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.customer import CustomerState, score_customer_event
from cxpulse.simulate import (
    CHANNEL_NAMES,
    SOURCE,
    AgentTruth,
    CustomerSpread,
    FrictionRule,
    GroundTruth,
    Json,
    Simulation,
    SimulationConfig,
    generate,
    ground_truth,
)
from cxpulse.simulate.catalog import ms_to_rfc3339
from cxpulse.simulate.truth import Observer


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
    """Enough voice contacts per erratic agent to measure spreads."""
    return simulate(
        SimulationConfig(
            seed=11, count=80_000, duplicate_fraction=0.0, erratic_agents=4, erratic_on=("voice",)
        )
    )


@pytest.fixture(scope="module")
def cli_default_run() -> tuple[list[Json], GroundTruth]:
    """``cxpulse simulate --count 60000 --seed 3``: the run docs/scoring.md measures."""
    return simulate(SimulationConfig(seed=3, count=60_000))


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
    assert len(truth.erratic_agent_ids) == 4
    assert len(truth.steady_agent_ids) == len(truth.agents) - 4
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
    assert min(len(csat[True]), len(csat[False])) > 100
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


def test_jeopardy_is_what_the_scorer_raises(default_run: tuple[list[Json], GroundTruth]) -> None:
    """The truth's jeopardy transitions are the scorer's ``jeopardy`` alerts, one for one,
    but for a repeat the alert cooldown swallows."""
    events, truth = default_run
    config = ScoringConfig()
    customers: dict[str, CustomerState] = {}
    alerted = set()
    for raw in events:
        event = parse_event(orjson.dumps(raw))
        state, emitted = score_customer_event(customers.get(event.customer_id), event, config)
        customers[event.customer_id] = state
        alerted |= {(a.entity_id, a.occurred_at) for a in emitted.alerts if a.kind == "jeopardy"}
    planted = [(j.customer_id, j.at) for j in truth.jeopardy]
    assert len(planted) >= 20
    assert alerted <= set(planted)
    cooldown = timedelta(minutes=config.alert_cooldown_minutes)
    for customer, at in set(planted) - alerted:
        assert any(c == customer and at - cooldown < t < at for c, t in alerted)
    causes = Counter(j.cause for j in truth.jeopardy)
    assert causes.most_common(1)[0][0] == "promise_broken"
    assert truth.jeopardy_customer_ids == {
        j.customer_id for j in truth.jeopardy if j.cause == "promise_broken"
    }
    assert {j.customer_id for j in truth.jeopardy} <= truth.dazzled_customer_ids
    kinds = {e["kind"] for e in events if e["type"] == "experience.dazzle"}
    assert kinds == {"proactive_outreach", "goodwill", "personalised_help", "compliment"}


def _event(kind: str, at_ms: int, event_id: str, **fields: Any) -> Json:
    at = ms_to_rfc3339(at_ms)
    return {"type": kind, "event_id": event_id, "customer_id": "c1", "occurred_at": at, **fields}


@pytest.mark.parametrize(
    ("hours_after_dazzle", "dazzles", "jeopardy"),
    [
        (1, 1, True),  # 1.0 decayed to 0.996: below dazzled_balance, yet still dazzled
        (24 * 7, 1, True),  # half a dazzle left
        (24 * 23, 1, True),  # 0.1 left, just above fade_balance
        (24 * 24, 1, False),  # faded below fade_balance: the customer is neutral again
        (1, 0, False),  # never dazzled
        (24 * 30, 3, True),  # three dazzles fade later than one
    ],
)
def test_a_broken_promise_is_jeopardy_only_while_still_dazzled(
    hours_after_dazzle: int, dazzles: int, jeopardy: bool
) -> None:
    observer = Observer(ScoringConfig(), "rule-x", frozenset())
    start_ms = 1_700_000_000_000
    for i in range(dazzles):
        observer.observe(start_ms + i, _event("experience.dazzle", start_ms + i, f"d{i}"), False)
    broken_ms = start_ms + hours_after_dazzle * 3_600_000
    observer.observe(broken_ms, _event("service.promise_broken", broken_ms, "b1"), False)
    assert [(j.customer_id, j.event_id, j.cause) for j in observer.jeopardy] == (
        [("c1", "b1", "promise_broken")] if jeopardy else []
    )
    assert observer.dazzled == ({"c1"} if dazzles else set())


def test_a_resent_broken_promise_counts_once() -> None:
    observer = Observer(ScoringConfig(), "rule-x", frozenset())
    observer.observe(0, _event("experience.dazzle", 0, "d1"), False)
    broken = _event("service.promise_broken", 60_000, "b1")
    observer.observe(60_000, broken, False)
    observer.observe(61_000, dict(broken), True)
    assert len(observer.jeopardy) == 1
    assert observer.duplicates == 1


@pytest.mark.parametrize(
    ("events", "cause"),
    [
        ([("feedback.received", {"csat": 1})], "dismay"),
        ([("policy.applied", {"rule_id": "r", "effect": "blocked"})], "policy_blocked"),
        ([("policy.applied", {"rule_id": "r", "effect": "redirected"})], None),  # -0.5: too small
        (
            [("interaction.started", {}), ("interaction.ended", {"outcome": "abandoned"})],
            "abandoned",
        ),
        (
            [
                ("interaction.started", {}),
                ("service.promise_broken", {}),
                ("interaction.ended", {"outcome": "abandoned"}),
            ],
            "promise_broken",  # graded F for the promise, weighed once
        ),
        ([("interaction.started", {}), ("interaction.ended", {"outcome": "unresolved"})], None),
    ],
)
def test_other_de_dazzles_of_a_dazzled_customer_are_jeopardy_by_their_cause(
    events: list[tuple[str, dict[str, Any]]], cause: str | None
) -> None:
    observer = Observer(ScoringConfig(), "rule-x", frozenset())
    observer.observe(0, _event("experience.dazzle", 0, "d1"), False)
    for i, (kind, fields) in enumerate(events, start=1):
        event = _event(kind, i * 60_000, f"e{i}", interaction_id="i1", **fields)
        observer.observe(i * 60_000, event, False)
    assert [j.cause for j in observer.jeopardy] == ([cause] if cause else [])


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


# --- agents at realistic rates ---------------------------------------------------------


def per_channel(truth: GroundTruth, part_time: bool = False) -> dict[str | None, float]:
    """Mean contacts per hour of the agents of each channel."""
    rates: dict[str | None, list[float]] = defaultdict(list)
    for agent in truth.agents:
        if agent.part_time == part_time:
            rates[agent.channel].append(agent.per_hour)
    return {channel: statistics.fmean(values) for channel, values in rates.items()}


def test_agents_handle_realistic_contacts_per_hour(
    cli_default_run: tuple[list[Json], GroundTruth],
) -> None:
    _, truth = cli_default_run
    rates = per_channel(truth)
    assert 6 <= rates["voice"] <= 10
    assert 2 <= rates["email"] <= 4
    config = SimulationConfig()
    for channel, rate in rates.items():
        assert channel is not None
        assert rate == pytest.approx(config.agent_rate(channel), rel=0.25), channel
    handled = sum(a.contacts for a in truth.agents)
    assert handled == sum(
        1
        for e in originals(cli_default_run[0])
        if e["type"] == "interaction.ended" and "agent_id" in e
    )


def test_part_time_agents_take_a_few_contacts_a_day() -> None:
    config = SimulationConfig(count=20_000, contacts_per_minute=2.0, part_time_agents=8)
    _, truth = simulate(config)
    part_timers = [a for a in truth.agents if a.part_time]
    assert len(part_timers) == 8
    assert {a.channel for a in part_timers} == {"voice"}
    assert truth.hours > 24
    per_day = 24 * sum(a.contacts for a in part_timers) / len(part_timers) / truth.hours
    assert all(a.planned_per_hour * 24 == config.part_time_contacts_per_day for a in part_timers)
    assert per_day == pytest.approx(config.part_time_contacts_per_day, rel=0.35)


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_the_rate_scale_divides_the_work_among_more_or_fewer_agents(scale: float) -> None:
    base = Simulation(SimulationConfig()).truth().agents
    scaled = Simulation(SimulationConfig(agent_rate_scale=scale)).truth().agents

    def voice(agents: tuple[AgentTruth, ...]) -> list[AgentTruth]:
        return [a for a in agents if a.channel == "voice" and not a.part_time]

    assert len(voice(scaled)) == pytest.approx(len(voice(base)) / scale, rel=0.1)
    planned = statistics.fmean(a.planned_per_hour for a in voice(scaled))
    assert planned == pytest.approx(8.0 * scale, rel=0.1)


@settings(max_examples=30, deadline=None)
@given(
    contacts_per_minute=st.floats(0.2, 60),
    scale=st.floats(0.05, 4),
    queues=st.integers(1, 6),
    part_time=st.integers(0, 8),
)
def test_every_queue_and_channel_is_staffed_for_its_expected_contacts(
    contacts_per_minute: float, scale: float, queues: int, part_time: int
) -> None:
    config = SimulationConfig(
        contacts_per_minute=contacts_per_minute,
        agent_rate_scale=scale,
        queues=queues,
        part_time_agents=part_time,
    )
    agents = Simulation(config).truth().agents
    pools: dict[tuple[str, str | None], float] = defaultdict(float)
    for agent in agents:
        pools[agent.queue_id, agent.channel] += agent.planned_per_hour
    assert len(pools) == queues * len(CHANNEL_NAMES)
    answered = sum(pools.values())
    offered = contacts_per_minute * 60 * (1 - config.standalone_probability)
    assert 0.85 * offered < answered <= offered  # voice, chat and video callers hang up
    assert sum(a.part_time for a in agents) == part_time
    assert len({a.agent_id for a in agents}) == len(agents)


def test_erratic_agents_are_planted_at_several_volumes(
    cli_default_run: tuple[list[Json], GroundTruth],
) -> None:
    _, truth = cli_default_run
    erratic = sorted((a for a in truth.agents if a.erratic), key=lambda a: a.planned_per_hour)
    assert [a.channel for a in erratic] == ["email", "voice", "chat"]
    assert erratic[0].per_hour < 4
    assert 6 < erratic[1].per_hour < 10
    assert all(a.contacts >= 15 for a in erratic)
    written = truth.to_json()["agents"]
    assert {a["agent_id"]: a["channel"] for a in written if a["erratic"]} == {
        a.agent_id: a.channel for a in erratic
    }


def test_part_time_agents_can_be_the_erratic_ones() -> None:
    config = SimulationConfig(count=0, erratic_agents=2, erratic_on=("part_time", "email"))
    agents = Simulation(config).truth().agents
    erratic = sorted((a.part_time, a.channel) for a in agents if a.erratic)
    assert erratic == [(False, "email"), (True, "voice")]


def test_more_erratic_agents_than_a_channel_has_is_an_error() -> None:
    with pytest.raises(ValueError, match="no agent left"):
        Simulation(SimulationConfig(erratic_agents=13, erratic_on=("sms",)))


def test_a_fixed_roster_answers_every_channel_of_its_queue() -> None:
    events, truth = simulate(SimulationConfig(count=5_000, agents=12))
    assert len(truth.agents) == 12
    assert all(a.channel is None for a in truth.agents)
    channels: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event["type"] == "interaction.connected":
            channels[event["agent_id"]].add(event["channel"])
    assert max(len(c) for c in channels.values()) >= 4


# --- the truth of the default simulation ---------------------------------------------------


def test_the_default_simulation_plants_every_condition(
    cli_default_run: tuple[list[Json], GroundTruth],
) -> None:
    _, truth = cli_default_run
    assert len({a.channel for a in truth.agents if a.erratic}) == 3
    assert len(truth.outages) >= 3
    assert all(o.contacts > 20 and o.customers > 20 for o in truth.outages)
    assert len(truth.jeopardy_customer_ids) >= 20
    assert truth.competitor_spike is not None
    assert truth.competitor_spike.mentions > 50
    assert truth.friction_rule is not None
    assert truth.friction_rule.rule_id == truth.high_friction_rule_id
    assert truth.contacts > 10_000


def test_outage_truth_counts_the_contacts_customers_and_promises_hit(
    cli_default_run: tuple[list[Json], GroundTruth],
) -> None:
    events, truth = cli_default_run
    for outage in truth.outages:
        hit = [
            e
            for e in originals(events)
            if e["type"] == "interaction.started"
            and e["queue_id"] == outage.queue_id
            and outage.contains(when(e))
        ]
        ids = {e["interaction_id"] for e in hit}
        promises = [
            e
            for e in originals(events)
            if e["type"] == "service.promise_broken" and e.get("interaction_id") in ids
        ]
        assert outage.contacts == len(hit)
        assert outage.customers == len({e["customer_id"] for e in hit})
        assert outage.broken_promises == len(promises)
        assert all(p["service_id"] == outage.service_id for p in promises)


def test_friction_truth_counts_the_rule_s_applications(
    cli_default_run: tuple[list[Json], GroundTruth],
) -> None:
    events, truth = cli_default_run
    effects = Counter(
        e["effect"]
        for e in originals(events)
        if e["type"] == "policy.applied" and e["rule_id"] == truth.high_friction_rule_id
    )
    assert truth.friction_rule == FrictionRule(
        truth.high_friction_rule_id, effects.total(), effects["blocked"], effects["redirected"]
    )


def test_the_truth_file_reads_back(cli_default_run: tuple[list[Json], GroundTruth]) -> None:
    _, truth = cli_default_run
    written = orjson.loads(orjson.dumps(truth.to_json()))
    again = GroundTruth.from_json(written)
    assert again.to_json() == truth.to_json()
    assert again.outages == truth.outages
    assert again.jeopardy == truth.jeopardy
    assert again.hours == pytest.approx(truth.hours)


def test_agent_flags_reach_the_config(tmp_path: Path) -> None:
    args = parse_cli(
        [
            "--agent-rate",
            "voice=6",
            "--agent-rate",
            "email=2.5",
            "--agent-rate-scale",
            "0.5",
            "--part-time-agents",
            "3",
            "--part-time-per-day",
            "4",
            "--erratic-agents",
            "2",
            "--erratic-on",
            "part_time,email",
            "--output",
            str(tmp_path / "events.jsonl"),
        ]
    )
    config = _config_from_args(args)
    assert config.agent_rate("voice") == 3.0
    assert config.agent_rate("email") == 1.25
    assert config.agent_rate("chat") == 5.0  # the default, scaled
    assert (config.part_time_agents, config.part_time_contacts_per_day) == (3, 4.0)
    assert (config.erratic_agents, config.erratic_on) == (2, ("part_time", "email"))
    assert config.agents is None
    assert _config_from_args(parse_cli(["--agents", "40"])).agents == 40


@pytest.mark.parametrize("flag", [["--agent-rate", "voice"], ["--agent-rate", "fax=3"]])
def test_a_bad_agent_rate_flag_is_refused(flag: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_cli(flag)


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


def test_events_without_the_truth_are_the_same_events() -> None:
    config = SimulationConfig(seed=6, count=3_000)
    light = Simulation(config, keep_truth=False)
    assert list(light.events()) == simulate(config)[0]
    with pytest.raises(RuntimeError, match="keep_truth"):
        light.truth()


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
        ({"agents": 40, "erratic_agents": 41}, "erratic_agents"),
        ({"erratic_agents": -1}, "erratic_agents"),
        ({"erratic_on": ("fax",)}, "erratic_on"),
        ({"erratic_on": ("part_time",), "part_time_agents": 2}, "part_time_agents"),
        ({"agent_rates": (("voice", 0.0),)}, "agent_rates"),
        ({"agent_rates": (("fax", 3.0),)}, "agent_rates"),
        ({"agent_rate_scale": 0.0}, "agent_rate_scale"),
        ({"part_time_contacts_per_day": 0.0}, "part_time_contacts_per_day"),
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
