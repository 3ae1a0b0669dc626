"""Who answers: agents staffed per queue and channel, and how a contact finds one.

A staffed roster (``SimulationConfig.agents`` None) gives each (queue, channel) as many
full-time agents as its expected contacts need at the channel's rate, plus the part-time
voice agents; a contact goes to one of its pool's agents with odds in proportion to the
agent's rate, so each agent handles about its planned number of contacts an hour.  A fixed
roster (``agents`` set) is the first model: ``agents`` agents, each answering every channel
of one queue, picked uniformly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import accumulate

from cxpulse.simulate.catalog import CHANNELS, PART_TIME, Channel
from cxpulse.simulate.config import SimulationConfig


@dataclass(frozen=True, slots=True)
class Agent:
    agent_id: str
    queue: int
    erratic: bool
    base_handle_s: float
    #: The channel the agent answers; None: every channel of the queue (fixed roster).
    channel: str | None
    #: Contacts per hour of event time the agent is expected to handle.
    planned_per_hour: float
    part_time: bool = False


@dataclass(frozen=True, slots=True)
class _Slot:
    queue: int
    channel: str
    part_time: bool
    weight: float


class Roster:
    def __init__(self, config: SimulationConfig, rng: random.Random) -> None:
        """Draws from ``rng`` only: the roster does not move when other knobs change."""
        self._fixed = config.agents is not None
        if config.agents is not None:
            self.agents = _fixed_roster(config, config.agents, rng)
        else:
            self.agents = _staffed_roster(config, rng)
        self._by_queue = [[a for a in self.agents if a.queue == q] for q in range(config.queues)]
        self._pools: dict[tuple[int, str], tuple[list[Agent], list[float]]] = {}
        for agent in self.agents:
            if agent.channel is not None:
                pool, _ = self._pools.setdefault((agent.queue, agent.channel), ([], []))
                pool.append(agent)
        for key, (pool, _) in self._pools.items():
            self._pools[key] = (pool, list(accumulate(a.planned_per_hour for a in pool)))

    def pick(self, rng: random.Random, queue: int, channel: str) -> Agent:
        """The agent who answers a contact of ``channel`` in ``queue``."""
        if self._fixed:
            return rng.choice(self._by_queue[queue])
        pool, cum_weights = self._pools[queue, channel]
        return rng.choices(pool, cum_weights=cum_weights)[0]


def answered_share(channel: Channel) -> float:
    """The share of a channel's contacts that reach an agent: a voice caller hangs up when
    their patience (exponential, ``mean_patience_s``) runs out before the wait (exponential,
    ``mean_wait_s``, capped at four means) ends."""
    if channel.mean_patience_s is None:
        return 1.0
    a = 1 + channel.mean_wait_s / channel.mean_patience_s
    return (1 - math.exp(-4 * a)) / a + math.exp(-4 * a)


def _fixed_roster(config: SimulationConfig, count: int, rng: random.Random) -> list[Agent]:
    erratic = set(rng.sample(range(count), config.erratic_agents))
    per_hour = config.contacts_per_minute * 60 * (1 - config.standalone_probability) / count
    return [
        Agent(
            f"agent-{i:03d}", i % config.queues, i in erratic, rng.uniform(330, 390), None, per_hour
        )
        for i in range(count)
    ]


def _staffed_roster(config: SimulationConfig, rng: random.Random) -> list[Agent]:
    hourly = config.contacts_per_minute * 60 * (1 - config.standalone_probability)
    part_time_rate = config.part_time_contacts_per_day / 24
    part_time = [
        sum(1 for i in range(config.part_time_agents) if i % config.queues == q)
        for q in range(config.queues)
    ]
    slots: list[_Slot] = []
    planned: list[float] = []
    for queue in range(config.queues):
        for channel in CHANNELS:
            demand = hourly * channel.weight / config.queues * answered_share(channel)
            rate = config.agent_rate(channel.name)
            extra = part_time[queue] if channel.name == "voice" else 0
            rest = demand - extra * part_time_rate
            full = max(1, round(rest / rate))
            pool = [_Slot(queue, channel.name, False, rate)] * full
            pool += [_Slot(queue, channel.name, True, part_time_rate)] * extra
            slots.extend(pool)
            if rest > 0:  # part-time agents at their rate, the full-time ones share the rest
                planned.extend(part_time_rate if slot.part_time else rest / full for slot in pool)
            else:
                total = sum(slot.weight for slot in pool)
                planned.extend(demand * slot.weight / total for slot in pool)
    erratic: set[int] = set()
    for place in config.erratic_placements():
        candidates = [
            i
            for i, slot in enumerate(slots)
            if i not in erratic
            and (
                slot.part_time
                if place == PART_TIME
                else slot.channel == place and not slot.part_time
            )
        ]
        if not candidates:
            raise ValueError(f"no agent left to make erratic on {place}")
        erratic.add(rng.choice(candidates))
    return [
        Agent(
            f"agent-{i:03d}",
            slot.queue,
            i in erratic,
            rng.uniform(330, 390),
            slot.channel,
            planned[i],
            slot.part_time,
        )
        for i, slot in enumerate(slots)
    ]
