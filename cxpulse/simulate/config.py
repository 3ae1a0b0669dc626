"""``SimulationConfig``: every knob of the simulator, validated once."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from cxpulse.simulate.catalog import (
    CHANNEL_NAMES,
    DEFAULT_AGENT_RATES,
    DEFAULT_START,
    PART_TIME,
)

CustomerSpread = Literal["skewed", "even"]
CUSTOMER_SPREADS: tuple[str, ...] = get_args(CustomerSpread)


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to simulate.  Probabilities are per contact unless said otherwise."""

    seed: int = 7
    #: Number of events to emit (duplicates included); None: endless.
    count: int | None = 10_000
    #: Event time of the first contact.
    start: datetime = DEFAULT_START
    customers: int = 2_000
    #: ``skewed``: a few customers contact the center far more often than most.  ``even``:
    #: customers take turns in a shuffled order, each making a contact before any makes
    #: another (repeats after friction aside); the memory benchmark fills state with it.
    customer_spread: CustomerSpread = "skewed"
    #: None: each queue staffs every channel with as many full-time agents as its expected
    #: contacts need at ``agent_rates`` (plus the part-time agents).  A number: that many
    #: agents, each answering every channel of one queue, so that their rate follows from
    #: ``contacts_per_minute`` (the simulator's first model; ``erratic_on`` and the part-time
    #: agents do not apply).
    agents: int | None = None
    queues: int = 4
    #: Contacts one full-time agent handles per hour of event time, by channel; channels
    #: left out keep their default (voice 8, chat 10, email 3, sms 6, social 6, video 5).
    agent_rates: tuple[tuple[str, float], ...] = DEFAULT_AGENT_RATES
    #: Multiplies every full-time rate (0.5: twice the agents, each with half the contacts).
    agent_rate_scale: float = 1.0
    #: Voice agents who take only a few contacts a day, spread over the queues.
    part_time_agents: int = 4
    part_time_contacts_per_day: float = 6.0
    erratic_agents: int = 3
    #: Where the erratic agents work, in turn: a channel's full-time agents, or
    #: ``part_time``.  The default plants them at several volumes: about 8, 10 and 3
    #: contacts an hour.
    erratic_on: tuple[str, ...] = ("voice", "chat", "email")
    #: New contacts per minute of event time; a contact yields about five events.
    contacts_per_minute: float = 25.0
    #: Share of emitted events that are verbatim re-sends of an earlier event.
    duplicate_fraction: float = 0.01
    #: Mean event time between the ends of two outages, and the mean outage length.
    outage_every_minutes: float = 60.0
    outage_minutes: float = 15.0
    #: During an outage, this share of contacts goes to the broken queue.
    outage_contact_share: float = 0.5
    #: Contacts that are not interactions: kept or broken promises, proactive outreach.
    standalone_probability: float = 0.06
    dazzle_probability: float = 0.04
    #: Chance that a dazzled customer later suffers a broken promise.
    jeopardy_probability: float = 0.4
    feedback_probability: float = 0.35
    sentiment_probability: float = 0.5
    note_probability: float = 0.15
    policy_probability: float = 0.08
    #: Share of blocked or redirected customers who contact the center again soon after.
    friction_repeat_probability: float = 0.5
    #: Answered contacts with a note naming a competitor (the steady background).
    competitor_note_probability: float = 0.02
    #: Event time from ``start`` to the competitor spike (None: no spike), its length, and
    #: the share of answered contacts that name the spiking competitor during it.
    competitor_spike_after_minutes: float | None = 180.0
    competitor_spike_minutes: float = 30.0
    competitor_spike_probability: float = 0.4

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.count is not None and self.count < 0:
            raise ValueError(f"count must be >= 0, got {self.count}")
        for name in ("customers", "queues"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.customer_spread not in CUSTOMER_SPREADS:
            raise ValueError(f"customer_spread must be one of {', '.join(CUSTOMER_SPREADS)}")
        if self.agents is not None:
            if self.agents < self.queues:
                raise ValueError(f"need at least one agent per queue ({self.queues} queues)")
            if not 0 <= self.erratic_agents <= self.agents:
                raise ValueError(f"erratic_agents must be in [0, {self.agents}]")
        else:
            self._check_staffing()
        if not 0 <= self.duplicate_fraction < 0.5:
            raise ValueError("duplicate_fraction must be in [0, 0.5)")
        spike_after = self.competitor_spike_after_minutes
        if spike_after is not None and spike_after < 0:
            raise ValueError("competitor_spike_after_minutes must be >= 0")
        for name in (
            "contacts_per_minute",
            "outage_every_minutes",
            "outage_minutes",
            "competitor_spike_minutes",
            "agent_rate_scale",
            "part_time_contacts_per_day",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        for name in (
            "outage_contact_share",
            "standalone_probability",
            "dazzle_probability",
            "jeopardy_probability",
            "feedback_probability",
            "sentiment_probability",
            "note_probability",
            "policy_probability",
            "friction_repeat_probability",
            "competitor_note_probability",
            "competitor_spike_probability",
        ):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1]")

    def _check_staffing(self) -> None:
        names = [name for name, _ in self.agent_rates]
        if len(set(names)) != len(names) or not set(names) <= set(CHANNEL_NAMES):
            raise ValueError(
                f"agent_rates: one rate per channel, channels among {', '.join(CHANNEL_NAMES)}"
            )
        if any(not rate > 0 for _, rate in self.agent_rates):
            raise ValueError("agent_rates must be > 0 contacts per hour")
        if self.part_time_agents < 0:
            raise ValueError("part_time_agents must be >= 0")
        if self.erratic_agents < 0:
            raise ValueError("erratic_agents must be >= 0")
        if self.erratic_agents and not self.erratic_on:
            raise ValueError("erratic_on must name where the erratic agents work")
        places = {*CHANNEL_NAMES, PART_TIME}
        if not set(self.erratic_on) <= places:
            raise ValueError(f"erratic_on: each one of {', '.join(sorted(places))}")
        if self.erratic_placements().count(PART_TIME) > self.part_time_agents:
            raise ValueError("erratic_agents on part_time exceed part_time_agents")

    def agent_rate(self, channel: str) -> float:
        """Contacts per hour of one full-time agent on ``channel``, scaled."""
        rates = dict(DEFAULT_AGENT_RATES)
        rates.update(self.agent_rates)
        return rates[channel] * self.agent_rate_scale

    def erratic_placements(self) -> list[str]:
        """Where each erratic agent works, in order (staffed rosters only)."""
        if not self.erratic_on:
            return []
        return [self.erratic_on[i % len(self.erratic_on)] for i in range(self.erratic_agents)]


# --- command-line flags shared by ``cxpulse simulate`` and ``python -m bench.signal`` ------


def _channel_rate(text: str) -> tuple[str, float]:
    channel, sep, value = text.partition("=")
    if not sep or channel not in CHANNEL_NAMES:
        raise argparse.ArgumentTypeError(
            f"expected CHANNEL=PER_HOUR with a channel among {', '.join(CHANNEL_NAMES)}: {text!r}"
        )
    try:
        return channel, float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number of contacts per hour: {value!r}") from exc


def _places(text: str) -> tuple[str, ...]:
    return tuple(place.strip() for place in text.split(",") if place.strip())


def add_staffing_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for the agents: how many, how busy, and where the erratic ones work."""
    defaults = SimulationConfig()
    parser.add_argument(
        "--agents",
        type=int,
        default=None,
        help="a fixed number of agents, each answering every channel of one queue; default: "
        "staff each queue and channel from the expected contacts and --agent-rate",
    )
    rates = ", ".join(f"{name}={rate:g}" for name, rate in DEFAULT_AGENT_RATES)
    parser.add_argument(
        "--agent-rate",
        type=_channel_rate,
        action="append",
        default=None,
        metavar="CHANNEL=PER_HOUR",
        help=f"contacts per hour of one full-time agent on a channel; repeat for several "
        f"[default {rates}]",
    )
    parser.add_argument(
        "--agent-rate-scale",
        type=float,
        default=defaults.agent_rate_scale,
        metavar="FACTOR",
        help="multiply every full-time agent rate (0.5: twice the agents, half the contacts "
        "each) [default 1]",
    )
    parser.add_argument(
        "--part-time-agents",
        type=int,
        default=defaults.part_time_agents,
        help=f"voice agents taking only a few contacts a day [default {defaults.part_time_agents}]",
    )
    parser.add_argument(
        "--part-time-per-day",
        type=float,
        default=defaults.part_time_contacts_per_day,
        metavar="CONTACTS",
        help="contacts a day of one part-time agent "
        f"[default {defaults.part_time_contacts_per_day:g}]",
    )
    parser.add_argument(
        "--erratic-agents",
        type=int,
        default=defaults.erratic_agents,
        help=f"agents whose contacts are great or awful [default {defaults.erratic_agents}]",
    )
    parser.add_argument(
        "--erratic-on",
        type=_places,
        default=defaults.erratic_on,
        metavar="PLACES",
        help="where the erratic agents work, in turn: comma-separated channels or "
        f"{PART_TIME} [default {','.join(defaults.erratic_on)}]",
    )


def staffing_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """``SimulationConfig`` fields from ``add_staffing_arguments``' flags."""
    return {
        "agents": args.agents,
        "agent_rates": tuple(dict(args.agent_rate or ()).items()) or DEFAULT_AGENT_RATES,
        "agent_rate_scale": args.agent_rate_scale,
        "part_time_agents": args.part_time_agents,
        "part_time_contacts_per_day": args.part_time_per_day,
        "erratic_agents": args.erratic_agents,
        "erratic_on": args.erratic_on,
    }
