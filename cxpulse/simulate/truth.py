"""The ground truth: what the emitted events contain, in the terms the scorer uses.

``Observer`` sees every emitted event, in emission order (the order a replay scores them),
and records the planted conditions as they actually reached the stream:

* agents, erratic or steady, with their channel, planned rate and contacts handled;
* outages, with the contacts and customers they hit and the broken promises they caused;
* dazzled customers and **jeopardy**: a de-dazzle of at least ``jeopardy_min_impulse`` while
  the customer is still dazzled.  "Still dazzled" is the scorer's own loyalty state machine
  (``cxpulse/scoring/dazzle.py``), run on the impulses the scorer gives these events
  (``customer.py``): a dazzle whose balance has faded below ``fade_balance`` is forgotten,
  so a promise broken long after a dazzle is not jeopardy;
* the high-friction rule, and the competitor spike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cxpulse.scoring import dazzle, report_card
from cxpulse.scoring.config import ScoringConfig
from cxpulse.simulate.catalog import (
    COMPETITORS,
    Json,
    ms_to_datetime,
    rfc3339,
)
from cxpulse.simulate.roster import Agent

#: Jeopardy causes: the de-dazzling event, as the scorer weighs it.
PROMISE_BROKEN = "promise_broken"
ABANDONED = "abandoned"
FAILED_REPEAT = "failed_repeat"
DISMAY = "dismay"
POLICY_BLOCKED = "policy_blocked"
POLICY_REDIRECTED = "policy_redirected"


@dataclass(frozen=True, slots=True)
class AgentTruth:
    agent_id: str
    queue_id: str
    #: None: the agent answers every channel of its queue (a fixed roster).
    channel: str | None
    erratic: bool
    part_time: bool
    #: Expected contacts per hour of event time.
    planned_per_hour: float
    #: Contacts the agent ended in the emitted events, and that per hour while contacts
    #: arrived.
    contacts: int
    per_hour: float


@dataclass(frozen=True, slots=True)
class OutageWindow:
    """One queue's service down in ``[start, end)``, and what it hit."""

    queue_id: str
    service_id: str
    start: datetime
    end: datetime
    #: Contacts that started on the queue during the outage, their customers, and the
    #: ``service.promise_broken`` (promise ``outage``) events they reported.
    contacts: int = 0
    customers: int = 0
    broken_promises: int = 0

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True)
class CompetitorSpike:
    """One competitor mentioned far more than the background, in ``[start, end)``."""

    competitor: str
    start: datetime
    end: datetime
    #: Spike notes emitted (background mentions of the same competitor not included).
    mentions: int


@dataclass(frozen=True, slots=True)
class JeopardyTruth:
    """A still-dazzled customer de-dazzled: the scorer's ``jeopardy`` transition."""

    customer_id: str
    at: datetime
    event_id: str
    #: ``promise_broken`` (the planted dazzled-then-broken customer), or another
    #: de-dazzle: ``abandoned``, ``failed_repeat``, ``dismay``, ``policy_blocked`` (or
    #: ``policy_redirected``, with a ``jeopardy_min_impulse`` below its weight).
    cause: str
    balance_before: float


@dataclass(frozen=True, slots=True)
class FrictionRule:
    rule_id: str
    applications: int = 0
    blocked: int = 0
    redirected: int = 0


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """The planted scenarios, as far as the emitted events show them."""

    events: int
    duplicates: int
    erratic_agent_ids: frozenset[str]
    steady_agent_ids: frozenset[str]
    outages: tuple[OutageWindow, ...]
    #: Customers who reached the scorer's ``dazzled`` state.
    dazzled_customer_ids: frozenset[str]
    #: Customers hit by a broken promise while still dazzled (``jeopardy`` for that cause).
    jeopardy_customer_ids: frozenset[str]
    high_friction_rule_id: str
    #: Competitors named in the background notes.
    competitors: tuple[str, ...] = COMPETITORS
    #: The spike, if it began while contacts were still arriving.
    competitor_spike: CompetitorSpike | None = None
    #: Interactions started in the emitted events.
    contacts: int = 0
    #: Event time of the first and the last emitted event, and of the last arrival (the
    #: events after it are what earlier contacts left pending: surveys, repeats, promises).
    start: datetime | None = None
    end: datetime | None = None
    arrivals_end: datetime | None = None
    agents: tuple[AgentTruth, ...] = ()
    #: Every jeopardy transition the scorer's model gives these events, in time order.
    jeopardy: tuple[JeopardyTruth, ...] = ()
    friction_rule: FrictionRule | None = None

    @property
    def hours(self) -> float:
        """Event time during which contacts arrived."""
        if self.start is None or self.arrivals_end is None:
            return 0.0
        return (self.arrivals_end - self.start).total_seconds() / 3600

    def to_json(self) -> Json:
        spike = self.competitor_spike
        return {
            "events": self.events,
            "duplicates": self.duplicates,
            "contacts": self.contacts,
            "start": None if self.start is None else rfc3339(self.start),
            "end": None if self.end is None else rfc3339(self.end),
            "arrivals_end": None if self.arrivals_end is None else rfc3339(self.arrivals_end),
            "erratic_agent_ids": sorted(self.erratic_agent_ids),
            "steady_agent_ids": sorted(self.steady_agent_ids),
            "agents": [
                {
                    "agent_id": a.agent_id,
                    "queue_id": a.queue_id,
                    "channel": a.channel,
                    "erratic": a.erratic,
                    "part_time": a.part_time,
                    "planned_per_hour": a.planned_per_hour,
                    "contacts": a.contacts,
                    "per_hour": a.per_hour,
                }
                for a in self.agents
            ],
            "outages": [
                {
                    "queue_id": w.queue_id,
                    "service_id": w.service_id,
                    "start": rfc3339(w.start),
                    "end": rfc3339(w.end),
                    "contacts": w.contacts,
                    "customers": w.customers,
                    "broken_promises": w.broken_promises,
                }
                for w in self.outages
            ],
            "dazzled_customer_ids": sorted(self.dazzled_customer_ids),
            "jeopardy_customer_ids": sorted(self.jeopardy_customer_ids),
            "jeopardy": [
                {
                    "customer_id": j.customer_id,
                    "at": rfc3339(j.at),
                    "event_id": j.event_id,
                    "cause": j.cause,
                    "balance_before": j.balance_before,
                }
                for j in self.jeopardy
            ],
            "high_friction_rule_id": self.high_friction_rule_id,
            "friction_rule": (
                None
                if (rule := self.friction_rule) is None
                else {
                    "rule_id": rule.rule_id,
                    "applications": rule.applications,
                    "blocked": rule.blocked,
                    "redirected": rule.redirected,
                }
            ),
            "competitors": list(self.competitors),
            "competitor_spike": (
                None
                if spike is None
                else {
                    "competitor": spike.competitor,
                    "start": rfc3339(spike.start),
                    "end": rfc3339(spike.end),
                    "mentions": spike.mentions,
                }
            ),
        }

    @classmethod
    def from_json(cls, data: Json) -> GroundTruth:
        """Read back ``to_json()`` (event times to the millisecond)."""

        def when(text: str | None) -> datetime | None:
            return None if text is None else datetime.fromisoformat(text)

        def at(text: str) -> datetime:
            return datetime.fromisoformat(text)

        spike = data.get("competitor_spike")
        rule = data.get("friction_rule")
        return cls(
            events=data["events"],
            duplicates=data["duplicates"],
            erratic_agent_ids=frozenset(data["erratic_agent_ids"]),
            steady_agent_ids=frozenset(data["steady_agent_ids"]),
            outages=tuple(
                OutageWindow(
                    o["queue_id"],
                    o["service_id"],
                    at(o["start"]),
                    at(o["end"]),
                    o.get("contacts", 0),
                    o.get("customers", 0),
                    o.get("broken_promises", 0),
                )
                for o in data["outages"]
            ),
            dazzled_customer_ids=frozenset(data["dazzled_customer_ids"]),
            jeopardy_customer_ids=frozenset(data["jeopardy_customer_ids"]),
            high_friction_rule_id=data["high_friction_rule_id"],
            competitors=tuple(data.get("competitors", COMPETITORS)),
            competitor_spike=(
                None
                if spike is None
                else CompetitorSpike(
                    spike["competitor"], at(spike["start"]), at(spike["end"]), spike["mentions"]
                )
            ),
            contacts=data.get("contacts", 0),
            start=when(data.get("start")),
            end=when(data.get("end")),
            arrivals_end=when(data.get("arrivals_end")),
            agents=tuple(AgentTruth(**a) for a in data.get("agents", ())),
            jeopardy=tuple(
                JeopardyTruth(
                    j["customer_id"], at(j["at"]), j["event_id"], j["cause"], j["balance_before"]
                )
                for j in data.get("jeopardy", ())
            ),
            friction_rule=None if rule is None else FrictionRule(**rule),
        )


# --- the observer ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Customer:
    balance: float = 0.0
    balance_us: int = 0
    loyalty: str = dazzle.NEUTRAL
    #: End of the last contact that ended unresolved or abandoned (repeat contacts).
    unfinished_us: int | None = None
    #: Open contacts: interaction id -> [repeat contact, a promise was broken in it].
    open: dict[str, list[bool]] = field(default_factory=dict)


@dataclass(slots=True)
class _OutageHits:
    contacts: int = 0
    customers: set[str] = field(default_factory=set)
    broken_promises: int = 0


class Observer:
    """Counts what the emitted events contain; see the module docstring."""

    def __init__(self, scoring: ScoringConfig, friction_rule: str, spike_texts: frozenset[str]):
        self.scoring = scoring
        self.friction_rule = friction_rule
        self.spike_texts = spike_texts
        self.emitted = 0
        self.duplicates = 0
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self.contacts = 0
        self.spike_mentions = 0
        self.agent_contacts: dict[str, int] = {}
        self.dazzled: set[str] = set()
        self.jeopardy: list[JeopardyTruth] = []
        self.friction = [0, 0, 0]  # applications, blocked, redirected
        #: Interaction id -> index of the outage it started in (set by the planner).
        self.outage_of: dict[str, int] = {}
        self.outage_hits: dict[int, _OutageHits] = {}
        self._customers: dict[str, _Customer] = {}
        self._repeat_us = round(scoring.repeat_window_hours * 3_600_000_000)

    def observe(self, moment: int, event: Json, duplicate: bool) -> None:
        self.emitted += 1
        if self.first_ms is None:
            self.first_ms = moment
        self.last_ms = moment
        if duplicate:
            self.duplicates += 1
            return
        kind = event["type"]
        at_us = moment * 1000
        if kind == "interaction.started":
            self.contacts += 1
            self._started(event, at_us)
        elif kind == "interaction.ended":
            self._ended(event, at_us)
        elif kind == "service.promise_broken":
            self._broken(event, at_us)
        elif kind == "experience.dazzle":
            self._impulse(event, at_us, self.scoring.dazzle_weight, "dazzle")
        elif kind == "feedback.received":
            mood = report_card.feedback_mood(
                event.get("csat"), event.get("nps"), event.get("effort"), self.scoring
            )
            if mood == report_card.DELIGHT:
                self._impulse(event, at_us, self.scoring.delight_weight, "delight")
            elif mood == report_card.DISMAY:
                self._impulse(event, at_us, -self.scoring.dismay_weight, DISMAY)
        elif kind == "policy.applied":
            self._policy(event, at_us)
        elif kind == "conversation.note" and event["text"] in self.spike_texts:
            self.spike_mentions += 1

    def _customer(self, customer_id: str) -> _Customer:
        customer = self._customers.get(customer_id)
        if customer is None:
            customer = self._customers[customer_id] = _Customer()
        return customer

    def _started(self, event: Json, at_us: int) -> None:
        customer = self._customer(event["customer_id"])
        since = customer.unfinished_us
        repeat = since is not None and 0 <= at_us - since <= self._repeat_us
        customer.open[event["interaction_id"]] = [repeat, False]
        outage = self.outage_of.get(event["interaction_id"])
        if outage is not None:
            hits = self.outage_hits.setdefault(outage, _OutageHits())
            hits.contacts += 1
            hits.customers.add(event["customer_id"])

    def _ended(self, event: Json, at_us: int) -> None:
        interaction = event["interaction_id"]
        self.outage_of.pop(interaction, None)
        agent = event.get("agent_id")
        if agent is not None:
            self.agent_contacts[agent] = self.agent_contacts.get(agent, 0) + 1
        customer = self._customer(event["customer_id"])
        repeat, broken = customer.open.pop(interaction, [False, False])
        outcome = event["outcome"]
        if outcome in report_card.UNFINISHED_OUTCOMES:
            customer.unfinished_us = at_us
        elif outcome == "resolved":
            customer.unfinished_us = None
        if broken:
            return  # graded F for the broken promise, weighed when it was reported
        if repeat and outcome in report_card.UNFINISHED_OUTCOMES:
            self._impulse(event, at_us, -self.scoring.failure_weight, FAILED_REPEAT)
        elif outcome == "abandoned":
            self._impulse(event, at_us, -self.scoring.failure_weight, ABANDONED)

    def _broken(self, event: Json, at_us: int) -> None:
        interaction = event.get("interaction_id")
        if interaction is not None:
            flags = self._customer(event["customer_id"]).open.get(interaction)
            if flags is not None:
                flags[1] = True
            outage = self.outage_of.get(interaction)
            if outage is not None and event.get("promise") == "outage":
                self.outage_hits.setdefault(outage, _OutageHits()).broken_promises += 1
        self._impulse(event, at_us, -self.scoring.broken_promise_weight, PROMISE_BROKEN)

    def _policy(self, event: Json, at_us: int) -> None:
        effect = event["effect"]
        if event["rule_id"] == self.friction_rule:
            self.friction[0] += 1
            self.friction[1] += effect == "blocked"
            self.friction[2] += effect == "redirected"
        if effect == "blocked":
            self._impulse(event, at_us, -self.scoring.policy_blocked_weight, POLICY_BLOCKED)
        elif effect == "redirected":
            self._impulse(event, at_us, -self.scoring.policy_redirected_weight, POLICY_REDIRECTED)

    def _impulse(self, event: Json, at_us: int, weight: float, cause: str) -> None:
        """The scorer's ``_Step.impulse``: fade, add, then the loyalty transition."""
        config = self.scoring
        customer_id = event["customer_id"]
        customer = self._customer(customer_id)
        before = dazzle.balance_at(customer.balance, customer.balance_us, at_us, config)
        loyalty = dazzle.faded(customer.loyalty, before, config)
        customer.balance, customer.balance_us = dazzle.add_impulse(
            customer.balance, customer.balance_us, weight, at_us, config
        )
        after = dazzle.balance_at(customer.balance, customer.balance_us, at_us, config)
        new = dazzle.next_loyalty(loyalty, after, weight, config)
        customer.loyalty = new
        if new == loyalty:
            return
        if new == dazzle.DAZZLED:
            self.dazzled.add(customer_id)
        elif new == dazzle.JEOPARDY:
            self.jeopardy.append(
                JeopardyTruth(
                    customer_id, ms_to_datetime(at_us // 1000), event["event_id"], cause, before
                )
            )

    def agents(
        self, roster: Iterable[Agent], queue_ids: list[str], hours: float
    ) -> tuple[AgentTruth, ...]:
        return tuple(
            AgentTruth(
                agent_id=a.agent_id,
                queue_id=queue_ids[a.queue],
                channel=a.channel,
                erratic=a.erratic,
                part_time=a.part_time,
                planned_per_hour=a.planned_per_hour,
                contacts=(n := self.agent_contacts.get(a.agent_id, 0)),
                per_hour=n / hours if hours > 0 else 0.0,
            )
            for a in roster
        )
