"""``cxpulse replay FILE.jsonl``: the streaming computation, in-process, over a file of events.

It is the reference the stream must match: alerts, snapshots and insights.  Events are
scored per customer in file order, exactly as the customer agent scores them; the
summaries are then merged in ``(occurred_at, summary_id)`` order and each is handed, as a
record of its customer's lane (events-topic partition) with that lane's high, to every
partition of the entity side, through the function the entity scorer agent calls
(``scoring/partition.py``).  A window closes only once every lane has passed it, and each
lane is time-ordered, so any interleaving of the lanes fills and closes every window alike
(tests/unit/test_replay.py interleaves to check it).

Like the stream, the replay does not flush at the end of the input: contacts still open
and windows not yet closed by a later summary produce nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cxpulse.config.settings import Settings
from cxpulse.edge.decode import Rejection, decode_event
from cxpulse.edge.redact import Redactor
from cxpulse.schemas.events import Event
from cxpulse.schemas.outputs import Alert, Insight, ScoreSnapshot, Severity
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.customer import CustomerState, score_customer_event
from cxpulse.scoring.emitted import Emitted
from cxpulse.scoring.entity import EntityState, summary_routes
from cxpulse.scoring.intelligence import redacted
from cxpulse.scoring.partition import Route, entity_key, score_partition_record
from cxpulse.scoring.summary import InteractionSummary
from cxpulse.scoring.windows import PartitionClock
from cxpulse.worker.lanes import lane_for, partition_for


@dataclass(frozen=True)
class ReplayResult:
    alerts: tuple[Alert, ...]
    snapshots: tuple[ScoreSnapshot, ...]
    events: int
    duplicates: int
    summaries: int
    late_events: int
    insights: tuple[Insight, ...] = ()


def replay(
    events: Iterable[Event], config: ScoringConfig, *, with_snapshots: bool = True
) -> ReplayResult:
    customers: dict[str, CustomerState] = {}
    made: list[InteractionSummary] = []
    alerts: list[Alert] = []
    snapshots: list[ScoreSnapshot] = []
    insights: list[Insight] = []
    count = duplicates = summaries = late = 0
    for event in events:
        count += 1
        state, emitted = score_customer_event(customers.get(event.customer_id), event, config)
        customers[event.customer_id] = state
        if emitted.duplicate:
            duplicates += 1
            continue
        late += emitted.late_events
        alerts.extend(emitted.alerts)
        insights.extend(emitted.insights)
        if with_snapshots:
            snapshots.extend(emitted.snapshots)
        made.extend(emitted.summaries)
    summaries = len(made)
    for emitted in score_entities(made, customers, config):
        alerts.extend(emitted.alerts)
        if with_snapshots:
            snapshots.extend(emitted.snapshots)
    alerts.sort(key=lambda a: (a.occurred_at, a.alert_id))
    return ReplayResult(
        tuple(alerts), tuple(snapshots), count, duplicates, summaries, late, tuple(insights)
    )


def score_entities(
    made: list[InteractionSummary], customers: Iterable[str], config: ScoringConfig
) -> Iterator[Emitted]:
    """The entity side over every summary made: the lanes merged in event-time order, each
    summary a record of its lane sent to every partition (the stream tells every partition
    how far each lane has come)."""
    # The stream knows a summary's lane from the partition it came from; hashing each
    # customer once keeps the replay's cost close to the stream's own.
    lanes = {customer: lane_for(customer, config.lanes) for customer in customers}
    partitions = config.lanes
    homes: dict[Route, int] = {}
    clocks = [PartitionClock() for _ in range(partitions)]
    states: dict[str, EntityState] = {}
    for summary in sorted(made, key=lambda s: s.sort_key):
        routes_by_partition: defaultdict[int, list[Route]] = defaultdict(list)
        for route in summary_routes(summary):
            home = homes.get(route)
            if home is None:
                home = homes[route] = partition_for(entity_key(*route).encode(), partitions)
            routes_by_partition[home].append(route)
        lane = lanes[summary.customer_id]
        for partition, clock in enumerate(clocks):
            routed = [(summary, routes_by_partition[partition])]
            step = score_partition_record(
                clock, states.get, routed, config, lane=lane, lane_high_us=summary.occurred_at_us
            )
            states.update(step.states)
            yield from step.emitted


# --- command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="JSONL of canonical v1 events, one per line")
    parser.add_argument(
        "--alerts", type=Path, default=None, help="write alerts as JSONL here (default: stdout)"
    )
    parser.add_argument(
        "--notices",
        type=Path,
        default=None,
        help="also write notices (info: the stream's notices topic) as JSONL here",
    )
    parser.add_argument(
        "--snapshots", type=Path, default=None, help="also write score snapshots as JSONL here"
    )
    parser.add_argument(
        "--insights", type=Path, default=None, help="also write insights as JSONL here"
    )


class _Reader:
    """Valid events of a JSONL file; bad lines are reported on stderr and counted."""

    def __init__(self, lines: Iterable[bytes], max_bytes: int, errors: IO[str]) -> None:
        self.lines = lines
        self.max_bytes = max_bytes
        self.errors = errors
        self.bad = 0

    def __iter__(self) -> Iterator[Event]:
        for number, line in enumerate(self.lines, start=1):
            raw = line.strip()
            if not raw:
                continue
            decoded = decode_event(raw, self.max_bytes)
            if isinstance(decoded, Rejection):
                self.bad += 1
                print(
                    f"replay: line {number}: {decoded.reason}: {decoded.message}", file=self.errors
                )
                continue
            yield decoded


def _write_jsonl(path: Path | None, items: Iterable[Alert | ScoreSnapshot | Insight]) -> None:
    if path is None:
        for item in items:
            sys.stdout.write(item.to_json().decode() + "\n")
        return
    with path.open("wb") as out:
        for item in items:
            out.write(item.to_json() + b"\n")


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        source = args.file.open("rb")
    except OSError as exc:
        print(f"replay: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    with source:
        reader = _Reader(source, settings.max_event_bytes, sys.stderr)
        result = replay(
            reader, settings.scoring_config(), with_snapshots=args.snapshots is not None
        )
    redactor = Redactor.from_settings(settings)
    apart = settings.notices_topic != settings.alerts_topic
    loud = [a for a in result.alerts if not (apart and a.severity is Severity.INFO)]
    _write_jsonl(args.alerts, (redactor.alert(alert) for alert in loud))
    if args.notices is not None:
        notices = [a for a in result.alerts if apart and a.severity is Severity.INFO]
        _write_jsonl(args.notices, (redactor.alert(alert) for alert in notices))
    if args.snapshots is not None:
        _write_jsonl(args.snapshots, (redactor.snapshot(s) for s in result.snapshots))
    if args.insights is not None:
        _write_jsonl(
            args.insights,
            (redacted(i, redactor.text, redactor.customer_id) for i in result.insights),
        )
    kinds = Counter(alert.kind for alert in loud)
    by_kind = ", ".join(f"{kind}={n}" for kind, n in sorted(kinds.items())) or "none"
    print(
        f"replay: {result.events} events ({result.duplicates} duplicates, {reader.bad} bad "
        f"lines, {result.late_events} late), {result.summaries} summaries, "
        f"{len(loud)} alerts ({by_kind}), {len(result.alerts) - len(loud)} notices, "
        f"{len(result.insights)} insights",
        file=sys.stderr,
    )
    return 0
