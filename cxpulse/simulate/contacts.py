"""The contact lifecycle: what one arrival brings, event by event.

Contacts arrive at exponential gaps of event time (``stream.py`` keeps the clock).  Each
arrival becomes a whole *bundle*: one interaction's lifecycle (started, connected, held,
transferred, policy decisions and notes while the agent handles it, ended) plus what follows
from it (sentiment, a survey, a dazzle, a later broken promise, a repeat contact), or a
standalone event (a promise kept or broken, proactive outreach).

Every behaviour is linear in the contact's *quality*, 0 (awful) .. 1 (great): steady agents
keep it near 0.5, erratic agents swing it to either end with the same mean ("random acts of
excellence and chaos", seed 002).  During an outage, contacts of the broken queue report
``service.promise_broken`` and end unresolved or call again; a high-friction rule blocks or
redirects customers, who come back soon after (seed 004).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cxpulse.simulate.catalog import (
    BAD_COMMENTS,
    BROKEN_TEXT,
    CHANNEL_CUM_WEIGHTS,
    CHANNELS,
    COMPETITOR_NOTES,
    COMPETITORS,
    DAZZLE_TEXT,
    ERRATIC_QUALITY_SD,
    ERRATIC_SWING,
    GOOD_COMMENTS,
    KEPT_TEXT,
    MINUTE_MS,
    NOTES,
    POLICY_RULES,
    SOURCE,
    SPIKE_NOTES,
    STEADY_QUALITY_SD,
    Json,
    clamp,
    ms_to_rfc3339,
    queues,
    to_ms,
)
from cxpulse.simulate.config import SimulationConfig
from cxpulse.simulate.roster import Agent, Roster


@dataclass(frozen=True, slots=True)
class _Outage:
    index: int
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


class Planner:
    """Plans arrivals into bundles of events; draws only from its own seeded streams."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        # Independent streams, so the roster and the outage schedule do not move when an
        # unrelated knob changes.
        roster_rng = random.Random(f"{config.seed}/roster")
        self._outage_rng = random.Random(f"{config.seed}/outages")
        self.queue_ids, self.service_ids = queues(config.queues)
        self._customers = [f"cust-{i:05d}" for i in range(config.customers)]
        self._turns: list[str] = []
        self._roster = Roster(config, roster_rng)
        self.high_friction_rule = roster_rng.choice(POLICY_RULES)
        # Conversation notes and friction repeats draw from their own streams.
        self._intel_rng = random.Random(f"{config.seed}/intelligence")
        self._friction_rng = random.Random(f"{config.seed}/friction")
        self.spike_competitor = self._intel_rng.choice(COMPETITORS)
        spike_after = config.competitor_spike_after_minutes
        self.spike_ms: tuple[int, int] | None = None
        if spike_after is not None:
            spike_start = to_ms(config.start) + int(spike_after * MINUTE_MS)
            self.spike_ms = (
                spike_start,
                spike_start + int(config.competitor_spike_minutes * MINUTE_MS),
            )
        self.spike_texts = frozenset(
            note.format(competitor=self.spike_competitor) for note in SPIKE_NOTES
        )
        self._outages: list[_Outage] = []
        self._next_outage_from_ms = to_ms(config.start)
        self._id_prefix = f"sim-{config.seed}-"
        self._seq = 0
        self._interactions = 0
        #: Interaction id -> index of the outage it started in, for the ground truth (None:
        #: nobody keeps it).
        self.outage_of: dict[str, int] | None = None

    @property
    def agents(self) -> list[Agent]:
        return self._roster.agents

    @property
    def outages(self) -> list[_Outage]:
        """The outages scheduled so far, in time order."""
        return self._outages

    @property
    def rng(self) -> random.Random:
        """The main stream: arrival gaps draw from it too."""
        return self._rng

    # --- what arrives ----------------------------------------------------------------

    def arrival(self, now: int) -> list[tuple[int, Json]]:
        rng = self._rng
        customer = self.customer()
        bundle: list[tuple[int, Json]] = []
        if rng.random() < self.config.standalone_probability:
            self._standalone(bundle, now, customer)
            return bundle
        outage = self.outage_at(now)
        if outage is not None and rng.random() < self.config.outage_contact_share:
            queue = outage.queue
        else:
            queue = rng.randrange(self.config.queues)
        self._interaction(bundle, now, customer, queue, repeats_left=2)
        return bundle

    def customer(self) -> str:
        if self.config.customer_spread == "even":
            if not self._turns:
                self._turns = self._customers.copy()
                self._rng.shuffle(self._turns)
            return self._turns.pop()
        return self._customers[int(len(self._customers) * self._rng.random() ** 1.6)]

    def _standalone(self, bundle: list[tuple[int, Json]], now: int, customer: str) -> None:
        draw = self._rng.random()
        if draw < 0.6:
            bundle.append((now, self.promise_kept(now, customer)))
        elif draw < 0.85:
            event = self._event(now, "experience.dazzle", customer)
            event["kind"] = "proactive_outreach"
            event["description"] = DAZZLE_TEXT["proactive_outreach"]
            bundle.append((now, event))
            self._maybe_jeopardy(bundle, now, customer)
        else:
            bundle.append((now, self._broken_promise(now, customer)))

    def outage_at(self, moment: int) -> _Outage | None:
        rng = self._outage_rng
        while self._next_outage_from_ms <= moment:
            gap = rng.expovariate(1.0) * self.config.outage_every_minutes * MINUTE_MS
            length = rng.uniform(0.75, 1.25) * self.config.outage_minutes * MINUTE_MS
            start = self._next_outage_from_ms + int(gap)
            outage = _Outage(
                len(self._outages), rng.randrange(self.config.queues), start, start + int(length)
            )
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
        channel = CHANNELS[self._pick(CHANNEL_CUM_WEIGHTS)]
        self._interactions += 1
        contact = _Contact(
            envelope={
                "customer_id": customer,
                "interaction_id": f"int-{cfg.seed}-{self._interactions}",
                "channel": channel.name,
                "queue_id": self.queue_ids[queue],
            }
        )
        outage = self.outage_at(now)
        contact.outage = outage is not None and outage.queue == queue
        if outage is not None and contact.outage and self.outage_of is not None:
            self.outage_of[contact.envelope["interaction_id"]] = outage.index
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
        agent = self._roster.pick(rng, queue, channel.name)
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

    def _quality(self, agent: Agent) -> float:
        rng = self._rng
        if agent.erratic:
            swing = ERRATIC_SWING if rng.random() < 0.5 else -ERRATIC_SWING
            return clamp(rng.gauss(0.5 + swing, ERRATIC_QUALITY_SD), 0.0, 1.0)
        return clamp(rng.gauss(0.5, STEADY_QUALITY_SD), 0.0, 1.0)

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
            transferred["to_queue_id"] = self.queue_ids[target_queue]
            transferred["to_agent_id"] = self._roster.pick(
                rng, target_queue, contact.envelope["channel"]
            ).agent_id
            during.append((moment, transferred))
        if rng.random() < cfg.policy_probability:
            moment = at()
            during.append((moment, self._policy(moment, contact)))
        if rng.random() < cfg.note_probability:
            moment = at()
            note = self._lifecycle_event(moment, "conversation.note", contact)
            note["text"] = rng.choice(NOTES)
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
        spike = self.spike_ms
        notes = []
        in_spike = spike is not None and spike[0] <= connected_at < spike[1]
        if in_spike and rng.random() < cfg.competitor_spike_probability:
            notes.append(rng.choice(SPIKE_NOTES).format(competitor=self.spike_competitor))
        if rng.random() < cfg.competitor_note_probability:
            notes.append(rng.choice(COMPETITOR_NOTES).format(competitor=rng.choice(COMPETITORS)))
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
        rule = rng.choice(POLICY_RULES)
        draw = rng.random()
        if rule == self.high_friction_rule:
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
            sentiment["score"] = round(clamp(score, -1.0, 1.0), 3)
            sentiment["who"] = "customer"
            bundle.append((moment, sentiment))
        if rng.random() < min(1.0, cfg.dazzle_probability * 2 * q):
            moment = end + 1_000
            dazzle = self._lifecycle_event(moment, "experience.dazzle", contact)
            kind = rng.choice(("goodwill", "personalised_help", "compliment"))
            dazzle["kind"] = kind
            dazzle["description"] = DAZZLE_TEXT[kind]
            bundle.append((moment, dazzle))
            self._maybe_jeopardy(bundle, moment, contact.envelope["customer_id"])
        if rng.random() < cfg.feedback_probability:
            moment = end + rng.randrange(60_000, 1_800_000)
            bundle.append((moment, self._feedback(moment, contact, upset)))

    def _feedback(self, moment: int, contact: _Contact, upset: int) -> Json:
        rng = self._rng
        q = contact.quality
        feedback = self._lifecycle_event(moment, "feedback.received", contact)
        csat = int(clamp(round(1.5 + 4 * q + rng.gauss(0, 0.4)) - upset, 1, 5))
        feedback["csat"] = csat
        if rng.random() < 0.6:
            feedback["nps"] = int(clamp(round(10 * q + rng.gauss(0, 1.0)) - 2 * upset, 0, 10))
        if rng.random() < 0.6:
            feedback["effort"] = int(clamp(round(6.5 - 5 * q + rng.gauss(0, 0.6)) + upset, 1, 7))
        if rng.random() < 0.25:
            feedback["comment"] = rng.choice(GOOD_COMMENTS if csat >= 4 else BAD_COMMENTS)
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
        again = end + self._rng.randrange(5 * MINUTE_MS, 30 * MINUTE_MS)
        customer = contact.envelope["customer_id"]
        self._interaction(bundle, again, customer, queue, repeats_left - 1)

    def _maybe_jeopardy(self, bundle: list[tuple[int, Json]], moment: int, customer: str) -> None:
        """Dazzled, then de-dazzled: a broken promise some time after the dazzle (seed 004)."""
        if self._rng.random() < self.config.jeopardy_probability:
            later = moment + self._rng.randrange(20 * MINUTE_MS, 120 * MINUTE_MS)
            bundle.append((later, self._broken_promise(later, customer)))

    # --- event builders --------------------------------------------------------------

    def _event(self, moment: int, kind: str, customer: str) -> Json:
        self._seq += 1
        return {
            "event_id": f"{self._id_prefix}{self._seq}",
            "type": kind,
            "occurred_at": ms_to_rfc3339(moment),
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
            promise = self._rng.choice(tuple(BROKEN_TEXT))
        event["promise"] = promise
        if queue is not None:
            event["service_id"] = self.service_ids[queue]
            event["description"] = f"{self.service_ids[queue]} is down."
        else:
            event["description"] = BROKEN_TEXT[promise]
        return event

    def promise_kept(self, moment: int, customer: str) -> Json:
        promise = self._rng.choice(tuple(KEPT_TEXT))
        event = self._event(moment, "service.promise_kept", customer)
        event["promise"] = promise
        event["description"] = KEPT_TEXT[promise]
        return event
