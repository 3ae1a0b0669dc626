"""A seeded contact-center: v1 events with known scenarios planted in them.

Pure and deterministic: the same ``SimulationConfig`` gives the same events, in
non-decreasing event time, from ``random.Random`` instances seeded by the config only.
Events are plain JSON-ready dicts (validation belongs to the consumer, and keeping pydantic
out of the loop keeps generation fast enough to preload a benchmark).

The modules, by concern:

* ``catalog``: channels, queues, rules, texts, default agent rates, event-time helpers;
* ``config``: ``SimulationConfig``, every knob;
* ``roster``: agents staffed per queue and channel at realistic rates (voice about 8
  contacts an hour, email 3, a few part-time agents at 6 a day), and who answers a contact;
* ``contacts``: one arrival's lifecycle of events;
* ``stream``: ``Simulation``, the arrivals merged into one time-ordered stream with re-sends;
* ``truth``: ``GroundTruth``, what was planted, in the scorer's terms.

The scenarios the scores must find (seeds 002 and 004):

* steady agents: one quality level, small spread ("mediocre Mike");
* erratic agents: each contact is great or awful, with the same mean ("random acts of
  excellence and chaos"), at several volumes (``erratic_on``);
* outage windows: one queue's service breaks, contacts report ``service.promise_broken``
  and end unresolved or call again;
* dazzled customers (``experience.dazzle``) and jeopardy customers, dazzled and later hit
  by a broken promise while still dazzled;
* a high-friction policy rule that mostly blocks or redirects, and whose customers often
  contact the center again soon after (seed 004);
* competitor mentions in conversation notes: a steady background over a few competitors,
  and a spike, one competitor mentioned far more for ``competitor_spike_minutes`` (seed 001);
* duplicates: events re-sent verbatim, as an at-least-once producer does.

``Simulation.truth()`` records what was actually emitted, for tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Iterator

from cxpulse.simulate.catalog import (
    CHANNEL_NAMES,
    COMPETITORS,
    DEFAULT_AGENT_RATES,
    DEFAULT_START,
    PART_TIME,
    SOURCE,
    Json,
    rfc3339,
)
from cxpulse.simulate.config import CUSTOMER_SPREADS, CustomerSpread, SimulationConfig
from cxpulse.simulate.stream import Simulation
from cxpulse.simulate.truth import (
    AgentTruth,
    CompetitorSpike,
    FrictionRule,
    GroundTruth,
    JeopardyTruth,
    OutageWindow,
)

__all__ = [
    "CHANNEL_NAMES",
    "COMPETITORS",
    "CUSTOMER_SPREADS",
    "DEFAULT_AGENT_RATES",
    "DEFAULT_START",
    "PART_TIME",
    "SOURCE",
    "AgentTruth",
    "CompetitorSpike",
    "CustomerSpread",
    "FrictionRule",
    "GroundTruth",
    "JeopardyTruth",
    "Json",
    "OutageWindow",
    "Simulation",
    "SimulationConfig",
    "generate",
    "ground_truth",
    "rfc3339",
]


def generate(config: SimulationConfig) -> Iterator[Json]:
    """The events of ``config``; use ``Simulation`` to read the ground truth as well."""
    return Simulation(config, keep_truth=False).events()


def ground_truth(config: SimulationConfig) -> GroundTruth:
    """Run the simulation to its end and return what it planted; needs a finite count."""
    if config.count is None:
        raise ValueError("ground_truth needs a finite count; use Simulation.truth() instead")
    simulation = Simulation(config)
    for _ in simulation.events():
        pass
    return simulation.truth()
