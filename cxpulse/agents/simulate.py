"""A seeded contact-center: v1 events with known scenarios planted in them.

Pure and deterministic: the same ``SimulationConfig`` gives the same events, in
non-decreasing event time, from ``random.Random`` instances seeded by the config only.
Events are plain JSON-ready dicts (validation belongs to the consumer, and keeping pydantic
out of the loop keeps generation fast enough to preload a benchmark).

How it works: contacts arrive at exponential gaps of event time.  Each arrival schedules a
whole *bundle* (one interaction's lifecycle, plus what follows from it: survey, sentiment,
a later broken promise, a repeat contact) into a heap; events leave the heap in time order,
so many customers' interactions interleave.  With a ``count``, a bundle is only admitted if
it fits the remaining budget, so every lifecycle in the stream is complete.

The scenarios the scores must find (seeds 002 and 004):

* steady agents: one quality level, small spread ("mediocre Mike");
* erratic agents: each contact is great or awful, with the same mean ("random acts of
  excellence and chaos");
* outage windows: one queue's service breaks, contacts report ``service.promise_broken``
  and end unresolved or call again;
* dazzled customers (``experience.dazzle``) and jeopardy customers, dazzled and later hit
  by a broken promise;
* a high-friction policy rule that mostly blocks or redirects, and whose customers often
  contact the center again soon after (seed 004);
* competitor mentions in conversation notes: a steady background over a few competitors,
  and a spike, one competitor mentioned far more for ``competitor_spike_minutes`` (seed 001);
* duplicates: events re-sent verbatim, as an at-least-once producer does.

``Simulation.truth()`` records what was actually emitted, for tests and benchmarks.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

SOURCE = "cxpulse-sim"
DEFAULT_START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
CustomerSpread = Literal["skewed", "even"]
CUSTOMER_SPREADS: tuple[str, ...] = get_args(CustomerSpread)

Json = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_MINUTE_MS = 60_000

_NAMED_QUEUES = (
    ("q-billing", "svc-billing"),
    ("q-broadband", "svc-broadband"),
    ("q-mobile", "svc-mobile-network"),
    ("q-orders", "svc-web-shop"),
    ("q-deliveries", "svc-delivery"),
    ("q-accounts", "svc-accounts"),
)

_POLICY_RULES = (
    "rule-refund-needs-receipt",
    "rule-card-payment-only",
    "rule-id-check-by-post",
    "rule-returns-within-14-days",
    "rule-callback-office-hours",
)


@dataclass(frozen=True, slots=True)
class _Channel:
    name: str
    weight: float
    mean_wait_s: float
    #: Mean time a customer waits before hanging up; None: asynchronous, nobody hangs up.
    mean_patience_s: float | None
    handle_factor: float


_CHANNELS = (
    _Channel("voice", 0.50, 45.0, 240.0, 1.0),
    _Channel("chat", 0.25, 30.0, 300.0, 1.2),
    _Channel("email", 0.10, 1_200.0, None, 0.6),
    _Channel("sms", 0.05, 300.0, None, 0.5),
    _Channel("social", 0.05, 600.0, None, 0.5),
    _Channel("video", 0.05, 60.0, 240.0, 1.1),
)
_CHANNEL_CUM_WEIGHTS = tuple(
    sum(channel.weight for channel in _CHANNELS[: i + 1]) for i in range(len(_CHANNELS))
)

# Quality of one contact, 0 (awful) .. 1 (great).  Every behaviour below is linear in it, so
# steady and erratic agents, whose quality has the same mean, have the same mean behaviour.
_STEADY_QUALITY_SD = 0.06
_ERRATIC_SWING = 0.4
_ERRATIC_QUALITY_SD = 0.05

_DAZZLE_TEXT = {
    "proactive_outreach": "Called the customer before the renewal to move them to a cheaper plan.",
    "goodwill": "Refunded the delivery fee without being asked.",
    "personalised_help": "Set up the new router together with the customer, step by step.",
    "compliment": "Customer said it was the best service they ever had.",
}
_BROKEN_TEXT = {
    "missed_callback": "Promised callback did not happen.",
    "billing_error": "Customer was charged twice.",
    "late_delivery": "Delivery arrived three days late.",
    "wrong_order": "Wrong item delivered.",
}
_KEPT_TEXT = {
    "missed_callback": "Callback made at the promised time.",
    "billing_error": "Bill correct and on time.",
    "late_delivery": "Delivered on the promised day.",
    "wrong_order": "Order delivered complete.",
}
_NOTES = (
    "Customer compared our fibre plan with Nordnet's and said theirs is cheaper.",
    "Customer loves the Orbit phone they bought last year.",
    "Customer bought the router at Elkjop because it was in stock there.",
    "Customer mentioned they switched from Telvia because of the app.",
    "Customer is moving house next month and needs the service at the new address.",
    "Customer just had a baby and asked for a quieter callback time.",
    "Customer asked whether we sell the Nimbus tablet; they saw it at a competitor.",
    "Customer asked about the status of their order.",
)
#: Competitors the notes name; cxpulse/data/lexicons.toml knows them.
COMPETITORS = ("Nordnet", "Telvia", "Skylink", "Fjordtel")
_COMPETITOR_NOTES = (
    "Customer said {competitor} offered them a better deal on fibre.",
    "Customer asked whether we can match the {competitor} price.",
    "Customer compared our coverage with {competitor}.",
    "Customer is thinking of switching to {competitor} when the contract ends.",
)
_SPIKE_NOTES = (
    "Customer saw the {competitor} campaign on TV and wants the same offer.",
    "Customer says {competitor} is giving away free routers this week.",
)
_GOOD_COMMENTS = (
    "The agent knew exactly what to do.",
    "Quick and friendly, thank you.",
    "Problem solved on the first call.",
)
_BAD_COMMENTS = (
    "I had to explain my problem three times.",
    "Transferred twice and still not fixed.",
    "Long wait and no answer.",
)


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
    agents: int = 40
    queues: int = 4
    erratic_agents: int = 3
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
        if self.agents < self.queues:
            raise ValueError(f"need at least one agent per queue ({self.queues} queues)")
        if not 0 <= self.erratic_agents <= self.agents:
            raise ValueError(f"erratic_agents must be in [0, {self.agents}]")
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


@dataclass(frozen=True, slots=True)
class OutageWindow:
    queue_id: str
    service_id: str
    start: datetime
    end: datetime

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
class GroundTruth:
    """The planted scenarios, as far as the emitted events show them."""

    events: int
    duplicates: int
    erratic_agent_ids: frozenset[str]
    steady_agent_ids: frozenset[str]
    outages: tuple[OutageWindow, ...]
    dazzled_customer_ids: frozenset[str]
    #: Dazzled customers who got a ``service.promise_broken`` after their first dazzle.
    jeopardy_customer_ids: frozenset[str]
    high_friction_rule_id: str
    #: Competitors named in the background notes.
    competitors: tuple[str, ...] = COMPETITORS
    #: The spike, if it began while contacts were still arriving.
    competitor_spike: CompetitorSpike | None = None

    def to_json(self) -> Json:
        return {
            "events": self.events,
            "duplicates": self.duplicates,
            "erratic_agent_ids": sorted(self.erratic_agent_ids),
            "steady_agent_ids": sorted(self.steady_agent_ids),
            "outages": [
                {
                    "queue_id": w.queue_id,
                    "service_id": w.service_id,
                    "start": rfc3339(w.start),
                    "end": rfc3339(w.end),
                }
                for w in self.outages
            ],
            "dazzled_customer_ids": sorted(self.dazzled_customer_ids),
            "jeopardy_customer_ids": sorted(self.jeopardy_customer_ids),
            "high_friction_rule_id": self.high_friction_rule_id,
            "competitors": list(self.competitors),
            "competitor_spike": (
                None
                if (spike := self.competitor_spike) is None
                else {
                    "competitor": spike.competitor,
                    "start": rfc3339(spike.start),
                    "end": rfc3339(spike.end),
                    "mentions": spike.mentions,
                }
            ),
        }


def rfc3339(moment: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix."""
    return _ms_to_rfc3339(_to_ms(moment))


def _to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MS


def _ms_to_rfc3339(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return f"{datetime.fromtimestamp(seconds, UTC).isoformat()[:19]}.{millis:03d}Z"


def _ms_to_datetime(ms: int) -> datetime:
    return _EPOCH + ms * _MS


@dataclass(frozen=True, slots=True)
class _Agent:
    agent_id: str
    queue: int
    erratic: bool
    base_handle_s: float


@dataclass(frozen=True, slots=True)
class _Outage:
    queue: int
    start_ms: int
    end_ms: int


@dataclass(slots=True)
class _Contact:
    """One interaction being planned: its envelope and what happened in it."""

    envelope: Json
    quality: float = 0.5
    outage: bool = False
    friction: bool = False


@dataclass(slots=True)
class _Observed:
    emitted: int = 0
    duplicates: int = 0
    last_ms: int | None = None
    dazzled: set[str] = field(default_factory=set)
    jeopardy: set[str] = field(default_factory=set)
    spike_mentions: int = 0


def _clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


class Simulation:
    """One run of the simulator: iterate ``events()`` once, then read ``truth()``."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        # Independent streams, so the roster, the outage schedule and the re-sends do not
        # move when an unrelated knob changes.
        roster_rng = random.Random(f"{config.seed}/roster")
        self._outage_rng = random.Random(f"{config.seed}/outages")
        self._duplicate_rng = random.Random(f"{config.seed}/duplicates")
        self._duplicate_odds = config.duplicate_fraction / (1 - config.duplicate_fraction)

        self._queue_ids, self._service_ids = _queues(config.queues)
        self._customers = [f"cust-{i:05d}" for i in range(config.customers)]
        self._turns: list[str] = []
        erratic = set(roster_rng.sample(range(config.agents), config.erratic_agents))
        self._agents = [
            _Agent(f"agent-{i:03d}", i % config.queues, i in erratic, roster_rng.uniform(330, 390))
            for i in range(config.agents)
        ]
        self._agents_by_queue = [
            [a for a in self._agents if a.queue == q] for q in range(config.queues)
        ]
        self._high_friction_rule = roster_rng.choice(_POLICY_RULES)
        # Conversation notes and friction repeats draw from their own streams.
        self._intel_rng = random.Random(f"{config.seed}/intelligence")
        self._friction_rng = random.Random(f"{config.seed}/friction")
        self._spike_competitor = self._intel_rng.choice(COMPETITORS)
        spike_after = config.competitor_spike_after_minutes
        self._spike_ms: tuple[int, int] | None = None
        if spike_after is not None:
            spike_start = _to_ms(config.start) + int(spike_after * _MINUTE_MS)
            self._spike_ms = (
                spike_start,
                spike_start + int(config.competitor_spike_minutes * _MINUTE_MS),
            )
        self._spike_texts = frozenset(
            note.format(competitor=self._spike_competitor) for note in _SPIKE_NOTES
        )

        self._start_ms = _to_ms(config.start)
        self._arrival_gap_ms = _MINUTE_MS / config.contacts_per_minute
        self._outages: list[_Outage] = []
        self._next_outage_from_ms = self._start_ms
        self._last_arrival_ms = self._start_ms
        self._id_prefix = f"sim-{config.seed}-"
        self._seq = 0
        self._interactions = 0
        self._heap: list[tuple[int, int, Json, bool]] = []
        self._heap_seq = 0
        self._budget = config.count
        self._observed = _Observed()
        self._started = False

    # --- the stream ------------------------------------------------------------------

    def events(self) -> Iterator[Json]:
        """The events in non-decreasing event time; a simulation runs once."""
        if self._started:
            raise RuntimeError("a Simulation runs once; create a new one to run again")
        self._started = True
        heap = self._heap
        arrival = float(self._start_ms)
        open_ = self._budget != 0
        observe = self._observe
        while True:
            while open_ and (not heap or arrival <= heap[0][0]):
                open_ = self._admit(int(arrival))
                arrival += self._rng.expovariate(1.0) * self._arrival_gap_ms
            if not heap:
                return
            moment, _, event, duplicate = heapq.heappop(heap)
            observe(moment, event, duplicate)
            yield event

    def truth(self) -> GroundTruth:
        """What the events emitted so far contain (all of it once ``events()`` is spent).

        Outage windows are those that began while contacts were still arriving.
        """
        seen = self._observed
        outages = tuple(
            OutageWindow(
                self._queue_ids[o.queue],
                self._service_ids[o.queue],
                _ms_to_datetime(o.start_ms),
                _ms_to_datetime(o.end_ms),
            )
            for o in self._outages
            if seen.last_ms is not None and o.start_ms <= min(seen.last_ms, self._last_arrival_ms)
        )
        spike = None
        if self._spike_ms is not None and seen.last_ms is not None:
            start, end = self._spike_ms
            if start <= min(seen.last_ms, self._last_arrival_ms):
                spike = CompetitorSpike(
                    self._spike_competitor,
                    _ms_to_datetime(start),
                    _ms_to_datetime(end),
                    seen.spike_mentions,
                )
        return GroundTruth(
            events=seen.emitted,
            duplicates=seen.duplicates,
            erratic_agent_ids=frozenset(a.agent_id for a in self._agents if a.erratic),
            steady_agent_ids=frozenset(a.agent_id for a in self._agents if not a.erratic),
            outages=outages,
            dazzled_customer_ids=frozenset(seen.dazzled),
            jeopardy_customer_ids=frozenset(seen.jeopardy),
            high_friction_rule_id=self._high_friction_rule,
            competitor_spike=spike,
        )

    def _observe(self, moment: int, event: Json, duplicate: bool) -> None:
        seen = self._observed
        seen.emitted += 1
        seen.last_ms = moment
        if duplicate:
            seen.duplicates += 1
            return
        kind = event["type"]
        if kind == "experience.dazzle":
            seen.dazzled.add(event["customer_id"])
        elif kind == "service.promise_broken" and event["customer_id"] in seen.dazzled:
            seen.jeopardy.add(event["customer_id"])
        elif kind == "conversation.note" and event["text"] in self._spike_texts:
            seen.spike_mentions += 1

    def _admit(self, now: int) -> bool:
        """Schedule one arrival's bundle if it fits the budget; False once the budget is spent."""
        bundle = self._arrival(now)
        resent = [
            (t, event) for t, event in bundle if self._duplicate_rng.random() < self._duplicate_odds
        ]
        if self._budget is not None:
            size = len(bundle) + len(resent)
            if size > self._budget:
                # Fill the rest with single events, so the count is exact and no lifecycle is cut.
                for _ in range(self._budget):
                    self._push(now, self._promise_kept(now, self._customer()), duplicate=False)
                self._budget = 0
                return False
            self._budget -= size
        self._last_arrival_ms = now
        for t, event in bundle:
            self._push(t, event, duplicate=False)
        for t, event in resent:
            self._push(t, dict(event), duplicate=True)
        return self._budget != 0

    def _push(self, moment: int, event: Json, *, duplicate: bool) -> None:
        self._heap_seq += 1
        heapq.heappush(self._heap, (moment, self._heap_seq, event, duplicate))

    # --- what arrives ----------------------------------------------------------------

    def _arrival(self, now: int) -> list[tuple[int, Json]]:
        rng = self._rng
        customer = self._customer()
        bundle: list[tuple[int, Json]] = []
        if rng.random() < self.config.standalone_probability:
            self._standalone(bundle, now, customer)
            return bundle
        outage = self._outage_at(now)
        if outage is not None and rng.random() < self.config.outage_contact_share:
            queue = outage.queue
        else:
            queue = rng.randrange(self.config.queues)
        self._interaction(bundle, now, customer, queue, repeats_left=2)
        return bundle

    def _customer(self) -> str:
        if self.config.customer_spread == "even":
            if not self._turns:
                self._turns = self._customers.copy()
                self._rng.shuffle(self._turns)
            return self._turns.pop()
        return self._customers[int(len(self._customers) * self._rng.random() ** 1.6)]

    def _standalone(self, bundle: list[tuple[int, Json]], now: int, customer: str) -> None:
        draw = self._rng.random()
        if draw < 0.6:
            bundle.append((now, self._promise_kept(now, customer)))
        elif draw < 0.85:
            event = self._event(now, "experience.dazzle", customer)
            event["kind"] = "proactive_outreach"
            event["description"] = _DAZZLE_TEXT["proactive_outreach"]
            bundle.append((now, event))
            self._maybe_jeopardy(bundle, now, customer)
        else:
            bundle.append((now, self._broken_promise(now, customer)))

    def _outage_at(self, moment: int) -> _Outage | None:
        rng = self._outage_rng
        while self._next_outage_from_ms <= moment:
            gap = rng.expovariate(1.0) * self.config.outage_every_minutes * _MINUTE_MS
            length = rng.uniform(0.75, 1.25) * self.config.outage_minutes * _MINUTE_MS
            start = self._next_outage_from_ms + int(gap)
            outage = _Outage(rng.randrange(self.config.queues), start, start + int(length))
            self._outages.append(outage)
            self._next_outage_from_ms = outage.end_ms
        for outage in reversed(self._outages):
            if outage.start_ms <= moment:
                return outage if moment < outage.end_ms else None
        return None

    # --- one interaction -------------------------------------------------------------

    def _interaction(
        self, bundle: list[tuple[int, Json]], now: int, customer: str, queue: int, repeats_left: int
    ) -> None:
        rng = self._rng
        cfg = self.config
        channel = _CHANNELS[self._pick(_CHANNEL_CUM_WEIGHTS)]
        self._interactions += 1
        contact = _Contact(
            envelope={
                "customer_id": customer,
                "interaction_id": f"int-{cfg.seed}-{self._interactions}",
                "channel": channel.name,
                "queue_id": self._queue_ids[queue],
            }
        )
        outage = self._outage_at(now)
        contact.outage = outage is not None and outage.queue == queue
        started = self._lifecycle_event(now, "interaction.started", contact)
        started["direction"] = "inbound"
        bundle.append((now, started))
        if contact.outage and rng.random() < 0.8:
            bundle.append((now, self._broken_promise(now, customer, "outage", queue, contact)))

        mean_wait_s = channel.mean_wait_s * (2.0 if contact.outage else 1.0)
        wait_s = min(rng.expovariate(1.0), 4.0) * mean_wait_s
        patience_s = (
            rng.expovariate(1.0) * channel.mean_patience_s
            if channel.mean_patience_s is not None
            else None
        )
        if patience_s is not None and patience_s < wait_s:
            end = now + 5_000 + int(patience_s * 1000)
            ended = self._lifecycle_event(end, "interaction.ended", contact)
            ended.update(outcome="abandoned", wait_seconds=round(patience_s + 5, 1))
            bundle.append((end, ended))
            self._maybe_repeat(bundle, end, contact, queue, repeats_left)
            return

        connected_at = now + 5_000 + int(wait_s * 1000)
        agent = rng.choice(self._agents_by_queue[queue])
        contact.envelope["agent_id"] = agent.agent_id
        contact.quality = self._quality(agent)
        wait_seconds = round(wait_s + 5, 1)
        connected = self._lifecycle_event(connected_at, "interaction.connected", contact)
        connected["wait_seconds"] = wait_seconds
        bundle.append((connected_at, connected))

        q = contact.quality
        handle_s = max(
            30.0,
            agent.base_handle_s * channel.handle_factor * (1.5 - q) * rng.lognormvariate(0, 0.1),
        )
        handle_ms = int(handle_s * 1000)
        during = self._during(connected_at, handle_ms, contact)
        bundle.extend(sorted(during, key=lambda item: item[0]))
        end = connected_at + handle_ms
        ended = self._lifecycle_event(end, "interaction.ended", contact)
        ended.update(
            outcome=self._outcome(contact),
            wait_seconds=wait_seconds,
            handle_seconds=round(handle_s, 1),
            hold_seconds=round(
                sum(e["hold_seconds"] for _, e in during if e["type"] == "interaction.held"), 1
            ),
            transfers=sum(1 for _, e in during if e["type"] == "interaction.transferred"),
        )
        bundle.append((end, ended))
        self._after(bundle, end, contact)
        if ended["outcome"] != "resolved" or contact.friction:
            self._maybe_repeat(bundle, end, contact, queue, repeats_left)

    def _pick(self, cum_weights: tuple[float, ...]) -> int:
        draw = self._rng.random() * cum_weights[-1]
        for index, bound in enumerate(cum_weights):
            if draw < bound:
                return index
        return len(cum_weights) - 1

    def _quality(self, agent: _Agent) -> float:
        rng = self._rng
        if agent.erratic:
            swing = _ERRATIC_SWING if rng.random() < 0.5 else -_ERRATIC_SWING
            return _clamp(rng.gauss(0.5 + swing, _ERRATIC_QUALITY_SD), 0.0, 1.0)
        return _clamp(rng.gauss(0.5, _STEADY_QUALITY_SD), 0.0, 1.0)

    def _during(
        self, connected_at: int, handle_ms: int, contact: _Contact
    ) -> list[tuple[int, Json]]:
        """Holds, transfers, policy decisions and notes while the agent handles the contact."""
        rng = self._rng
        cfg = self.config
        q = contact.quality
        during: list[tuple[int, Json]] = []

        def at() -> int:
            return connected_at + int(handle_ms * rng.uniform(0.05, 0.95))

        if rng.random() < 0.45 * (1 - q):
            for _ in range(2 if rng.random() < 0.3 * (1 - q) else 1):
                moment = at()
                held = self._lifecycle_event(moment, "interaction.held", contact)
                hold_s = min(handle_ms / 1000 * 0.3, 10 + rng.expovariate(1.0) * 45 * (1.5 - q))
                held["hold_seconds"] = round(hold_s, 1)
                during.append((moment, held))
        if rng.random() < 0.2 * (1 - q):
            target_queue = rng.randrange(cfg.queues)
            moment = at()
            transferred = self._lifecycle_event(moment, "interaction.transferred", contact)
            transferred["to_queue_id"] = self._queue_ids[target_queue]
            transferred["to_agent_id"] = rng.choice(self._agents_by_queue[target_queue]).agent_id
            during.append((moment, transferred))
        if rng.random() < cfg.policy_probability:
            moment = at()
            during.append((moment, self._policy(moment, contact)))
        if rng.random() < cfg.note_probability:
            moment = at()
            note = self._lifecycle_event(moment, "conversation.note", contact)
            note["text"] = rng.choice(_NOTES)
            note["author"] = "transcript" if rng.random() < 0.7 else "agent"
            during.append((moment, note))
        during.extend(self._competitor_notes(connected_at, handle_ms, contact))
        return during

    def _competitor_notes(
        self, connected_at: int, handle_ms: int, contact: _Contact
    ) -> list[tuple[int, Json]]:
        """A competitor named in the conversation: the background, or the spike."""
        rng = self._intel_rng
        cfg = self.config
        spike = self._spike_ms
        notes = []
        in_spike = spike is not None and spike[0] <= connected_at < spike[1]
        if in_spike and rng.random() < cfg.competitor_spike_probability:
            notes.append(rng.choice(_SPIKE_NOTES).format(competitor=self._spike_competitor))
        if rng.random() < cfg.competitor_note_probability:
            notes.append(rng.choice(_COMPETITOR_NOTES).format(competitor=rng.choice(COMPETITORS)))
        during = []
        for text in notes:
            moment = connected_at + int(handle_ms * rng.uniform(0.05, 0.95))
            note = self._lifecycle_event(moment, "conversation.note", contact)
            note["text"] = text
            note["author"] = "transcript"
            during.append((moment, note))
        return during

    def _policy(self, moment: int, contact: _Contact) -> Json:
        rng = self._rng
        rule = rng.choice(_POLICY_RULES)
        draw = rng.random()
        if rule == self._high_friction_rule:
            effect = "blocked" if draw < 0.6 else "redirected" if draw < 0.9 else "allowed"
            contact.friction = effect != "allowed"
        else:
            effect = "allowed" if draw < 0.85 else "redirected" if draw < 0.95 else "blocked"
        event = self._lifecycle_event(moment, "policy.applied", contact)
        event["rule_id"] = rule
        event["effect"] = effect
        return event

    def _outcome(self, contact: _Contact) -> str:
        q = contact.quality
        resolved = (0.45 + 0.5 * q) * (0.3 if contact.outage else 1.0)
        resolved *= 0.6 if contact.friction else 1.0
        escalated = 0.12 * (1 - q)
        draw = self._rng.random()
        if draw < resolved:
            return "resolved"
        return "escalated" if draw < resolved + escalated else "unresolved"

    def _after(self, bundle: list[tuple[int, Json]], end: int, contact: _Contact) -> None:
        """Post-contact analytics, the survey, and sometimes a dazzle worth recording."""
        rng = self._rng
        cfg = self.config
        q = contact.quality
        upset = (1 if contact.outage else 0) + (1 if contact.friction else 0)
        if rng.random() < cfg.sentiment_probability:
            moment = end + rng.randrange(1_000, 10_000)
            sentiment = self._lifecycle_event(moment, "sentiment.observed", contact)
            score = 2 * q - 1 + rng.gauss(0, 0.15) - 0.3 * upset
            sentiment["score"] = round(_clamp(score, -1.0, 1.0), 3)
            sentiment["who"] = "customer"
            bundle.append((moment, sentiment))
        if rng.random() < min(1.0, cfg.dazzle_probability * 2 * q):
            moment = end + 1_000
            dazzle = self._lifecycle_event(moment, "experience.dazzle", contact)
            kind = rng.choice(("goodwill", "personalised_help", "compliment"))
            dazzle["kind"] = kind
            dazzle["description"] = _DAZZLE_TEXT[kind]
            bundle.append((moment, dazzle))
            self._maybe_jeopardy(bundle, moment, contact.envelope["customer_id"])
        if rng.random() < cfg.feedback_probability:
            moment = end + rng.randrange(60_000, 1_800_000)
            bundle.append((moment, self._feedback(moment, contact, upset)))

    def _feedback(self, moment: int, contact: _Contact, upset: int) -> Json:
        rng = self._rng
        q = contact.quality
        feedback = self._lifecycle_event(moment, "feedback.received", contact)
        csat = int(_clamp(round(1.5 + 4 * q + rng.gauss(0, 0.4)) - upset, 1, 5))
        feedback["csat"] = csat
        if rng.random() < 0.6:
            feedback["nps"] = int(_clamp(round(10 * q + rng.gauss(0, 1.0)) - 2 * upset, 0, 10))
        if rng.random() < 0.6:
            feedback["effort"] = int(_clamp(round(6.5 - 5 * q + rng.gauss(0, 0.6)) + upset, 1, 7))
        if rng.random() < 0.25:
            feedback["comment"] = rng.choice(_GOOD_COMMENTS if csat >= 4 else _BAD_COMMENTS)
        return feedback

    def _maybe_repeat(
        self,
        bundle: list[tuple[int, Json]],
        end: int,
        contact: _Contact,
        queue: int,
        repeats_left: int,
    ) -> None:
        """An outage leaves problems unsolved, a rule sends the customer away: the customer
        contacts the center again.  A contact repeated only because of a rule is drawn from
        the rule's own random stream, so the rest of the simulation does not move with it."""
        if repeats_left <= 0:
            return
        if contact.outage and self._rng.random() < 0.5:
            self._repeat(bundle, end, contact, queue, repeats_left)
        elif (
            contact.friction
            and self._friction_rng.random() < self.config.friction_repeat_probability
        ):
            main, self._rng = self._rng, self._friction_rng
            try:
                self._repeat(bundle, end, contact, queue, repeats_left)
            finally:
                self._rng = main

    def _repeat(
        self,
        bundle: list[tuple[int, Json]],
        end: int,
        contact: _Contact,
        queue: int,
        repeats_left: int,
    ) -> None:
        again = end + self._rng.randrange(5 * _MINUTE_MS, 30 * _MINUTE_MS)
        customer = contact.envelope["customer_id"]
        self._interaction(bundle, again, customer, queue, repeats_left - 1)

    def _maybe_jeopardy(self, bundle: list[tuple[int, Json]], moment: int, customer: str) -> None:
        """Dazzled, then de-dazzled: a broken promise some time after the dazzle (seed 004)."""
        if self._rng.random() < self.config.jeopardy_probability:
            later = moment + self._rng.randrange(20 * _MINUTE_MS, 120 * _MINUTE_MS)
            bundle.append((later, self._broken_promise(later, customer)))

    # --- event builders --------------------------------------------------------------

    def _event(self, moment: int, kind: str, customer: str) -> Json:
        self._seq += 1
        return {
            "event_id": f"{self._id_prefix}{self._seq}",
            "type": kind,
            "occurred_at": _ms_to_rfc3339(moment),
            "customer_id": customer,
            "source": SOURCE,
        }

    def _lifecycle_event(self, moment: int, kind: str, contact: _Contact) -> Json:
        event = self._event(moment, kind, contact.envelope["customer_id"])
        event.update(contact.envelope)
        return event

    def _broken_promise(
        self,
        moment: int,
        customer: str,
        promise: str | None = None,
        queue: int | None = None,
        contact: _Contact | None = None,
    ) -> Json:
        if contact is not None:
            event = self._lifecycle_event(moment, "service.promise_broken", contact)
        else:
            event = self._event(moment, "service.promise_broken", customer)
        if promise is None:
            promise = self._rng.choice(tuple(_BROKEN_TEXT))
        event["promise"] = promise
        if queue is not None:
            event["service_id"] = self._service_ids[queue]
            event["description"] = f"{self._service_ids[queue]} is down."
        else:
            event["description"] = _BROKEN_TEXT[promise]
        return event

    def _promise_kept(self, moment: int, customer: str) -> Json:
        promise = self._rng.choice(tuple(_KEPT_TEXT))
        event = self._event(moment, "service.promise_kept", customer)
        event["promise"] = promise
        event["description"] = _KEPT_TEXT[promise]
        return event


def _queues(count: int) -> tuple[list[str], list[str]]:
    named = _NAMED_QUEUES[:count]
    extra = [(f"q-{i}", f"svc-{i}") for i in range(len(named), count)]
    pairs = [*named, *extra]
    return [queue for queue, _ in pairs], [service for _, service in pairs]


def generate(config: SimulationConfig) -> Iterator[Json]:
    """The events of ``config``; use ``Simulation`` to read the ground truth as well."""
    return Simulation(config).events()


def ground_truth(config: SimulationConfig) -> GroundTruth:
    """Run the simulation to its end and return what it planted; needs a finite count."""
    if config.count is None:
        raise ValueError("ground_truth needs a finite count; use Simulation.truth() instead")
    simulation = Simulation(config)
    for _ in simulation.events():
        pass
    return simulation.truth()
