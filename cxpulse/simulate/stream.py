"""``Simulation``: the contacts' events merged into one stream in event-time order.

Each arrival schedules its whole bundle into a heap; events leave the heap in time order,
so many customers' interactions interleave.  With a ``count``, a bundle is only admitted if
it fits the remaining budget, so every lifecycle in the stream is complete.  Some events
are re-sent verbatim, as an at-least-once producer does.  Every emitted event passes the
``Observer``, which keeps the ground truth.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator

from cxpulse.scoring.config import ScoringConfig
from cxpulse.simulate.catalog import HOUR_MS, MINUTE_MS, Json, ms_to_datetime, to_ms
from cxpulse.simulate.config import SimulationConfig
from cxpulse.simulate.contacts import Planner
from cxpulse.simulate.truth import (
    CompetitorSpike,
    FrictionRule,
    GroundTruth,
    Observer,
    OutageWindow,
)


class Simulation:
    """One run of the simulator: iterate ``events()`` once, then read ``truth()``.

    ``scoring`` is the model the truth speaks for (which de-dazzle puts a dazzled customer
    in jeopardy); the default is ``ScoringConfig()``.  ``keep_truth=False`` skips the
    bookkeeping (per-customer loyalty, among others) for callers that only want events,
    such as a benchmark preloading a million customers; ``truth()`` then refuses.
    """

    def __init__(
        self,
        config: SimulationConfig,
        scoring: ScoringConfig | None = None,
        *,
        keep_truth: bool = True,
    ) -> None:
        self.config = config
        self._keep_truth = keep_truth
        self._planner = Planner(config)
        self._duplicate_rng = random.Random(f"{config.seed}/duplicates")
        self._duplicate_odds = config.duplicate_fraction / (1 - config.duplicate_fraction)
        self._observer = Observer(
            scoring if scoring is not None else ScoringConfig(),
            self._planner.high_friction_rule,
            self._planner.spike_texts,
        )
        if keep_truth:
            self._planner.outage_of = self._observer.outage_of
        self._start_ms = to_ms(config.start)
        self._arrival_gap_ms = MINUTE_MS / config.contacts_per_minute
        self._last_arrival_ms = self._start_ms
        self._heap: list[tuple[int, int, Json, bool]] = []
        self._heap_seq = 0
        self._budget = config.count
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
        observe = self._observer.observe if self._keep_truth else None
        rng = self._planner.rng
        while True:
            while open_ and (not heap or arrival <= heap[0][0]):
                open_ = self._admit(int(arrival))
                arrival += rng.expovariate(1.0) * self._arrival_gap_ms
            if not heap:
                return
            moment, _, event, duplicate = heapq.heappop(heap)
            if observe is not None:
                observe(moment, event, duplicate)
            yield event

    def truth(self) -> GroundTruth:
        """What the events emitted so far contain (all of it once ``events()`` is spent).

        Outage windows are those that began while contacts were still arriving.
        """
        if not self._keep_truth:
            raise RuntimeError("this Simulation was made with keep_truth=False")
        seen = self._observer
        planner = self._planner
        arriving_until = None if seen.last_ms is None else min(seen.last_ms, self._last_arrival_ms)
        outages = []
        for o in planner.outages:
            if arriving_until is None or o.start_ms > arriving_until:
                continue
            hits = seen.outage_hits.get(o.index)
            outages.append(
                OutageWindow(
                    planner.queue_ids[o.queue],
                    planner.service_ids[o.queue],
                    ms_to_datetime(o.start_ms),
                    ms_to_datetime(o.end_ms),
                    hits.contacts if hits else 0,
                    len(hits.customers) if hits else 0,
                    hits.broken_promises if hits else 0,
                )
            )
        spike = None
        if planner.spike_ms is not None and arriving_until is not None:
            start, end = planner.spike_ms
            if start <= arriving_until:
                spike = CompetitorSpike(
                    planner.spike_competitor,
                    ms_to_datetime(start),
                    ms_to_datetime(end),
                    seen.spike_mentions,
                )
        first = seen.first_ms
        hours = 0.0 if first is None else (self._last_arrival_ms - first) / HOUR_MS
        agents = seen.agents(planner.agents, planner.queue_ids, hours)
        applications, blocked, redirected = seen.friction
        return GroundTruth(
            events=seen.emitted,
            duplicates=seen.duplicates,
            erratic_agent_ids=frozenset(a.agent_id for a in agents if a.erratic),
            steady_agent_ids=frozenset(a.agent_id for a in agents if not a.erratic),
            outages=tuple(outages),
            dazzled_customer_ids=frozenset(seen.dazzled),
            jeopardy_customer_ids=frozenset(
                j.customer_id for j in seen.jeopardy if j.cause == "promise_broken"
            ),
            high_friction_rule_id=planner.high_friction_rule,
            competitor_spike=spike,
            contacts=seen.contacts,
            start=None if seen.first_ms is None else ms_to_datetime(seen.first_ms),
            end=None if seen.last_ms is None else ms_to_datetime(seen.last_ms),
            arrivals_end=None if first is None else ms_to_datetime(self._last_arrival_ms),
            agents=agents,
            jeopardy=tuple(seen.jeopardy),
            friction_rule=FrictionRule(
                planner.high_friction_rule, applications, blocked, redirected
            ),
        )

    def _admit(self, now: int) -> bool:
        """Schedule one arrival's bundle if it fits the budget; False once the budget is spent."""
        planner = self._planner
        bundle = planner.arrival(now)
        resent = [
            (t, event) for t, event in bundle if self._duplicate_rng.random() < self._duplicate_odds
        ]
        if self._budget is not None:
            size = len(bundle) + len(resent)
            if size > self._budget:
                # Fill the rest with single events, so the count is exact and no lifecycle is cut.
                for _ in range(self._budget):
                    self._push(now, planner.promise_kept(now, planner.customer()), duplicate=False)
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
