"""The crash soak: kill -9 a worker at seeded points of a stream and compare with the replay.

``python -m bench.soak --runs N --seed S`` does, for each run, on the real broker:

1. a fresh app id and topics, and a seeded simulator stream with entity windows closing
   all along (agents, queues, rules, competitor mentions), all produced before the worker
   starts;
2. one worker, killed with SIGKILL once a seeded share of the input is committed (the
   shares are spread out over the runs); every third run also kills the restarted worker a
   second time while it is still restoring its tables;
3. a last restart on the same data dir, a wait until the input is consumed and every lag
   is at rest, then the ``alerts`` (and ``notices``, where info alerts go apart) and
   ``scores`` topics read with ``isolation_level=read_committed``;
4. a comparison with ``cxpulse replay`` of the same stream, in-process: alert ids and
   content, and the last score snapshot of every entity.

One progress line per run; a run that differs prints the differing alerts and snapshots and
the committed offsets at each kill, so a failure can be read without rerunning.  The last
line is ``runs N / exact N / lost N / extra N / duplicated N`` (runs with a lost, an extra
or a duplicated alert).  Exit status: under exactly-once, 0 only if every run was exact;
under at-least-once, 0 unless an alert was lost (duplicates are counted and reported).  A
run that could not complete, or a soak cut short by ``--time-limit``, exits non-zero too.
A restarted worker that stops making progress with records left to read has stalled: the
run reports it, with what the topics held by then compared all the same.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from bench import kafka_ops
from cxpulse.config.settings import ENV_PREFIX, Settings
from cxpulse.edge.decode import Rejection, decode_event
from cxpulse.edge.redact import Redactor
from cxpulse.replay import replay
from cxpulse.schemas.events import Event
from tests.integration.conftest import REPO, Worker, make_worker

Json = dict[str, Any]
Guarantee = Literal["exactly_once", "at_least_once"]
#: (entity_type, entity_id)
Entity = tuple[str, str]
#: topic role ("input", "events", "summaries") -> partition -> committed offset
Committed = dict[str, dict[int, int]]

DEFAULT_EVENTS = 20_000
DEFAULT_TIME_LIMIT_S = 1_800.0
#: The first kill falls once this share of the input is committed: spread over the runs.
FIRST_KILL_SHARES = (0.05, 1.0)
#: Every ``DOUBLE_KILL_EVERY``-th run also kills the restarted worker while it restores.
DOUBLE_KILL_EVERY = 3
#: How long into the table recovery the second kill falls, at most.
SECOND_KILL_MAX_DELAY_S = 0.5
#: A run that has not come to rest by then failed (bounded again by --time-limit).
RUN_TIMEOUT_S = 300.0
#: Budget for a run before the first one has been timed.
FIRST_RUN_ESTIMATE_S = 60.0
#: Committed offsets and output ends unchanged for this long: the pipeline is at rest.
REST_S = 2.0
#: ... unless records are left to read: then it has stalled (a restart's rebalance and
#: recovery take 10-15 s).
STALL_S = 60.0
KILL_POLL_S = 0.02
READY_POLL_S = 0.025
#: Lines of each kind of difference printed per run.
SHOW = 12


# --- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KillPlan:
    """One run: its stream and where it is killed."""

    run: int
    stream_seed: int
    #: Share of the input committed when the first kill -9 falls.
    share: float
    #: Seconds into the restarted worker's table recovery of a second kill -9 (None: none).
    second_kill_delay_s: float | None = None


def plan_runs(runs: int, seed: int) -> list[KillPlan]:
    """``runs`` kill plans: the first-kill shares are stratified over ``FIRST_KILL_SHARES``
    (one in each equal slice, at a seeded place, in a seeded order, so a soak cut short
    still spans the range); every ``DOUBLE_KILL_EVERY``-th run, from the second on, also
    kills during the restart's recovery."""
    rng = random.Random(seed)
    low, high = FIRST_KILL_SHARES
    slices = list(range(runs))
    rng.shuffle(slices)
    plans = []
    for run, slice_ in enumerate(slices):
        share = low + (high - low) * (slice_ + rng.random()) / runs
        double = run % DOUBLE_KILL_EVERY == 1
        delay = round(rng.uniform(0.0, SECOND_KILL_MAX_DELAY_S), 3) if double else None
        plans.append(KillPlan(run, seed * 1_000 + run, round(share, 4), delay))
    return plans


# --- the reference --------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What ``cxpulse replay`` computes from a stream, as the topics carry it."""

    alerts: dict[str, Json]
    last_snapshots: dict[Entity, Json]


def settings_for(env: Mapping[str, str]) -> Settings:
    """The settings a worker started with ``env`` reads."""
    names = Settings.model_fields
    values: dict[str, Any] = {
        key.removeprefix(ENV_PREFIX).lower(): value
        for key, value in env.items()
        if key.startswith(ENV_PREFIX) and key.removeprefix(ENV_PREFIX).lower() in names
    }
    return Settings(**values)


def expected_outputs(lines: Iterable[bytes], settings: Settings) -> Expected:
    """Replay, in-process, the events of ``lines`` (JSONL) with the worker's settings."""
    events: list[Event] = []
    for line in lines:
        decoded = decode_event(line, settings.max_event_bytes)
        if not isinstance(decoded, Rejection):
            events.append(decoded)
    result = replay(events, settings.scoring_config(), with_snapshots=True)
    redactor = Redactor.from_settings(settings)
    alerts: dict[str, Json] = {}
    for alert in result.alerts:
        alerts[alert.alert_id] = orjson.loads(redactor.alert(alert).to_json())
    snapshots = (orjson.loads(redactor.snapshot(s).to_json()) for s in result.snapshots)
    return Expected(alerts, last_per_entity(snapshots))


def last_per_entity(snapshots: Iterable[Json]) -> dict[Entity, Json]:
    """The last snapshot of each entity, in the order given (one entity's snapshots share a
    partition of the scores topic, so topic order is emission order)."""
    last: dict[Entity, Json] = {}
    for snapshot in snapshots:
        last[(str(snapshot["entity_type"]), str(snapshot["entity_id"]))] = snapshot
    return last


# --- the comparison -------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotDiff:
    entity: Entity
    stream: Json | None
    replay: Json | None


@dataclass(frozen=True)
class Comparison:
    expected: int
    published: int
    #: Alerts replay computes that the stream never published.
    lost: tuple[Json, ...]
    #: Alerts the stream published under an id replay does not compute.
    extra: tuple[Json, ...]
    #: Alerts published more than once, with the number of times.
    duplicated: tuple[tuple[Json, int], ...]
    #: Same id, other content: (stream, replay).
    changed: tuple[tuple[Json, Json], ...]
    #: Entities whose last score snapshot differs (or exists on one side only).
    snapshots: tuple[SnapshotDiff, ...]
    entities: int

    @property
    def exact(self) -> bool:
        return not (self.lost or self.extra or self.duplicated or self.changed or self.snapshots)


def compare(
    stream_alerts: Sequence[Json], stream_snapshots: Sequence[Json], expected: Expected
) -> Comparison:
    """The stream's read_committed alerts (notices included) and ``scores`` records against
    the replay."""
    times = Counter(str(a["alert_id"]) for a in stream_alerts)
    first: dict[str, Json] = {}
    changed: dict[str, tuple[Json, Json]] = {}
    for alert in stream_alerts:
        alert_id = str(alert["alert_id"])
        first.setdefault(alert_id, alert)
        wanted = expected.alerts.get(alert_id)
        if wanted is not None and alert != wanted:
            changed.setdefault(alert_id, (alert, wanted))
    last = last_per_entity(stream_snapshots)
    snapshot_diffs = tuple(
        SnapshotDiff(entity, last.get(entity), expected.last_snapshots.get(entity))
        for entity in sorted(set(last) | set(expected.last_snapshots))
        if last.get(entity) != expected.last_snapshots.get(entity)
    )
    return Comparison(
        expected=len(expected.alerts),
        published=len(stream_alerts),
        lost=tuple(a for i, a in expected.alerts.items() if i not in times),
        extra=tuple(a for i, a in first.items() if i not in expected.alerts),
        duplicated=tuple((first[i], n) for i, n in times.items() if n > 1),
        changed=tuple(changed.values()),
        snapshots=snapshot_diffs,
        entities=len(expected.last_snapshots),
    )


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KillPoint:
    """A kill -9 and the group's committed offsets right after it."""

    what: str
    committed: Committed


@dataclass
class RunResult:
    plan: KillPlan
    events: int
    kills: list[KillPoint] = field(default_factory=list)
    comparison: Comparison | None = None
    error: str | None = None
    seconds: float = 0.0
    kept: Path | None = None

    @property
    def exact(self) -> bool:
        return self.error is None and self.comparison is not None and self.comparison.exact


def describe_alert(alert: Json) -> str:
    """kind, entity, event time (for a window alert: the window's end) and reason."""
    return (
        f"{alert.get('kind')} {alert.get('severity')} {alert.get('entity_type')} "
        f"{alert.get('entity_id')} at {alert.get('occurred_at')} "
        f"(id {alert.get('alert_id')}): {alert.get('reason')}"
    )


def differences(stream: Json, wanted: Json, prefix: str = "") -> list[str]:
    """``field: stream != replay`` for each field that differs, nested dicts flattened."""
    out: list[str] = []
    for key in sorted(set(stream) | set(wanted), key=str):
        a, b = stream.get(key, "<absent>"), wanted.get(key, "<absent>")
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(differences(a, b, f"{prefix}{key}."))
        else:
            out.append(f"{prefix}{key}: stream {a!r} != replay {b!r}")
    return out


def describe_snapshot(diff: SnapshotDiff) -> str:
    kind, entity_id = diff.entity
    if diff.stream is None or diff.replay is None:
        side = "stream" if diff.replay is None else "replay"
        only = diff.stream if diff.replay is None else diff.replay
        assert only is not None
        return (
            f"{kind} {entity_id}: only the {side} has a snapshot "
            f"(as_of {only.get('as_of')}, event {only.get('event_id')})"
        )
    fields = differences(diff.stream, diff.replay)
    return f"{kind} {entity_id}: " + "; ".join(fields[:6]) + (" …" if len(fields) > 6 else "")


def describe_committed(committed: Committed, input_total: int) -> str:
    parts = []
    for role in ("input", "events", "summaries"):
        offsets = committed.get(role, {})
        listed = " ".join(f"p{p}={o}" for p, o in sorted(offsets.items())) or "nothing"
        parts.append(f"{role} {listed}")
    done = sum(committed.get("input", {}).values())
    share = f"{done / input_total:.0%}" if input_total else "?"
    return f"{done:,}/{input_total:,} input committed ({share}): " + " | ".join(parts)


def diagnosis(result: RunResult) -> list[str]:
    """What differs in a run, and where it was killed: the lines to print under it."""
    lines: list[str] = []
    c = result.comparison
    if c is not None:
        groups: list[tuple[str, list[str]]] = [
            ("lost (replay has it, the stream does not)", [describe_alert(a) for a in c.lost]),
            ("extra (the stream has it, replay does not)", [describe_alert(a) for a in c.extra]),
            (
                "duplicated (published more than once)",
                [f"x{n} {describe_alert(a)}" for a, n in c.duplicated],
            ),
            (
                "changed (same id, other content)",
                [
                    f"{describe_alert(wanted)}\n        " + "; ".join(differences(got, wanted))
                    for got, wanted in c.changed
                ],
            ),
            ("last snapshot differs", [describe_snapshot(d) for d in c.snapshots]),
        ]
        for title, items in groups:
            if not items:
                continue
            lines.append(f"  {len(items)} {title}:")
            lines.extend(f"    {item}" for item in items[:SHOW])
            if len(items) > SHOW:
                lines.append(f"    … and {len(items) - SHOW} more")
    if result.error is not None:
        lines.append(f"  error: {result.error}")
    for kill in result.kills:
        lines.append(
            f"  committed at {kill.what}: {describe_committed(kill.committed, result.events)}"
        )
    if result.kept is not None:
        lines.append(f"  worker log and data kept in {result.kept}")
    return lines


def progress_line(result: RunResult, runs: int) -> str:
    plan = result.plan
    head = (
        f"run {plan.run + 1}/{runs} (stream seed {plan.stream_seed}, {result.events:,} events, "
        f"kill -9 planned at {plan.share:.0%} of the input committed"
    )
    if result.kills and result.events:
        fell = sum(result.kills[0].committed.get("input", {}).values()) / result.events
        head += f", fell at {fell:.0%}"
    if plan.second_kill_delay_s is not None:
        second = result.kills[1].what if len(result.kills) > 1 else "the second kill"
        head += f", then again: {second}"
    head += ")"
    c = result.comparison
    if c is None:
        verdict = f"ERROR: {(result.error or 'no comparison').splitlines()[0]}"
    elif c.exact:
        verdict = (
            f"exact: {c.published} alerts = replay's {c.expected}, "
            f"last snapshots of {c.entities:,} entities equal"
        )
    else:
        verdict = (
            f"NOT EXACT: lost {len(c.lost)}, extra {len(c.extra)}, "
            f"duplicated {len(c.duplicated)}, changed {len(c.changed)}, "
            f"snapshots {len(c.snapshots)} ({c.published} alerts read, {c.expected} expected)"
        )
    if c is not None and result.error is not None:
        verdict = f"ERROR: {result.error.splitlines()[0]}; as the topics stood then: {verdict}"
    return f"{head}: {verdict} [{result.seconds:.0f} s]"


def other_differences_line(results: Sequence[RunResult]) -> str:
    """What the summary line does not count: runs with an alert of other content, a last
    snapshot that differs, or no comparison at all."""
    compared = [r.comparison for r in results if r.comparison is not None]
    return (
        f"not exact {sum(not r.exact for r in results)}: "
        f"changed content {sum(bool(c.changed) for c in compared)} / "
        f"snapshots differ {sum(bool(c.snapshots) for c in compared)} / "
        f"errors {sum(r.error is not None for r in results)}"
    )


def summary_line(results: Sequence[RunResult]) -> str:
    """``runs N / exact N / lost N / extra N / duplicated N``, counting runs."""
    compared = [r.comparison for r in results if r.comparison is not None]
    return (
        f"runs {len(results)} / exact {sum(r.exact for r in results)} / "
        f"lost {sum(bool(c.lost) for c in compared)} / "
        f"extra {sum(bool(c.extra) for c in compared)} / "
        f"duplicated {sum(bool(c.duplicated) for c in compared)}"
    )


def exit_status(results: Sequence[RunResult], runs_asked: int, guarantee: Guarantee) -> int:
    """0 when the guarantee held in every run asked for; 1 when it did not; 2 when a run
    could not finish (an error, or a stall whose topics still held what replay computes) or
    the soak was cut short (nothing can be said of the rest)."""
    if guarantee == "exactly_once":
        broken = any(r.comparison is not None and not r.comparison.exact for r in results)
    else:
        broken = any(r.comparison is not None and r.comparison.lost for r in results)
    if broken:
        return 1
    if len(results) < runs_asked or any(r.error is not None for r in results):
        return 2
    return 0


# --- one run on the broker ------------------------------------------------------------------


class RunError(RuntimeError):
    """A run could not reach the point of comparison."""


class Stalled(RunError):
    """The restarted worker stopped making progress with records left to read: what the
    topics hold then is still compared (a stall withholds alerts as surely as a loss)."""


@dataclass(frozen=True)
class Options:
    runs: int
    seed: int
    guarantee: Guarantee = "exactly_once"
    bootstrap: str = "127.0.0.1:9092"
    events: int = DEFAULT_EVENTS
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    workdir: Path | None = None
    keep: bool = False


def _cxpulse(env: Mapping[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cxpulse.commands.cli", *args],
        env=dict(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RunError(f"cxpulse {args[0]} exited {done.returncode}: {done.stderr[-2000:]}")


def _committed_by_role(offsets: kafka_ops.Offsets, roles: Mapping[str, str]) -> Committed:
    committed: Committed = {}
    for tp, offset in offsets.items():
        role = roles.get(tp.topic)
        if role is not None:
            committed.setdefault(role, {})[tp.partition] = offset
    return committed


async def _wait_input_committed(
    bootstrap: str, group: str, topic: str, *, target: int, worker: Worker, deadline: float
) -> None:
    async with kafka_ops.admin_client(bootstrap) as admin:
        while True:
            if worker.process is None or worker.process.poll() is not None:
                raise RunError(f"worker exited before the kill point:\n{worker.log_tail()}")
            if time.monotonic() > deadline:
                raise RunError(f"{target:,} input events not committed in time")
            try:
                offsets = await admin.list_consumer_group_offsets(group)
            except KafkaError:  # the group does not exist yet
                offsets = {}
            done = sum(m.offset for tp, m in offsets.items() if tp.topic == topic and m.offset > 0)
            if done >= target:
                return
            await asyncio.sleep(KILL_POLL_S)


def _waiting_for(body: str) -> list[str]:
    try:
        return [str(w) for w in orjson.loads(body).get("waiting_for", [])]
    except (orjson.JSONDecodeError, AttributeError):
        return []


def _kill_while_restoring(worker: Worker, delay_s: float, deadline: float) -> str:
    """Restart ``worker`` and kill -9 it ``delay_s`` into its table recovery; says when the
    kill fell (recovery can end before the delay, or pass unseen between two polls)."""
    worker.launch()
    while time.monotonic() < deadline:
        if worker.process is None or worker.process.poll() is not None:
            raise RunError(f"restarted worker exited by itself:\n{worker.log_tail()}")
        status, body = worker.http_get("/readyz")
        waiting = _waiting_for(body)
        if status == 200:
            worker.stop(signal.SIGKILL)
            return "a second kill -9 once ready (recovery passed unseen)"
        if "table recovery" in waiting and "partition assignment" not in waiting:
            time.sleep(delay_s)
            status, body = worker.http_get("/readyz")
            still = status != 200 and "table recovery" in _waiting_for(body)
            worker.stop(signal.SIGKILL)
            return (
                f"a second kill -9 {delay_s:.2f} s into table recovery"
                if still
                else f"a second kill -9 {delay_s:.2f} s after recovery began (it had ended)"
            )
        time.sleep(READY_POLL_S)
    raise RunError("the restarted worker never reached table recovery")


@dataclass(frozen=True)
class _Topics:
    input: str
    events: str
    summaries: str
    scores: str
    #: The alerts topic, and the notices topic where the settings send info alerts apart.
    alerts: tuple[str, ...]

    @property
    def roles(self) -> dict[str, str]:
        return {self.input: "input", self.events: "events", self.summaries: "summaries"}


def _topics_of(settings: Settings) -> _Topics:
    notices = getattr(settings, "notices_topic", settings.alerts_topic)
    alerts = (settings.alerts_topic,) + ((notices,) if notices != settings.alerts_topic else ())
    return _Topics(
        settings.input_topic,
        settings.events_topic,
        settings.summaries_topic,
        settings.scores_topic,
        alerts,
    )


def _at_rest_state(bootstrap: str, group: str, topics: _Topics) -> tuple[bool, Any, str]:
    """Whether the group has committed everything it reads; a fingerprint of the committed
    offsets and the outputs' ends; what is left if not done."""
    done = asyncio.run(kafka_ops.committed(bootstrap, group))
    # Every topic the group reads, should a version read one more than these three.
    consumed = sorted({topics.input, topics.events, topics.summaries} | {tp.topic for tp in done})
    ends = asyncio.run(kafka_ops.end_offsets(bootstrap, consumed))
    behind = {tp: end for tp, end in ends.items() if done.get(tp, 0) < end}
    outputs = asyncio.run(kafka_ops.end_offsets(bootstrap, [*topics.alerts, topics.scores]))
    fingerprint = (sorted(done.items()), sorted(outputs.items()))
    left = ", ".join(
        f"{tp.topic}[{tp.partition}] {done.get(tp, 0)} of {end}"
        for tp, end in sorted(behind.items())
    )
    return not behind, fingerprint, left


def _wait_at_rest(
    bootstrap: str, group: str, topics: _Topics, worker: Worker, deadline: float
) -> None:
    """Until the input is consumed, every internal lag is zero and nothing has moved (offsets
    committed, outputs written) for ``REST_S``; ``Stalled`` if a lag stays while nothing
    moves for ``STALL_S``."""
    moved_at = time.monotonic()
    last: Any = None
    left = "nothing checked"
    while time.monotonic() < deadline:
        if worker.process is None or worker.process.poll() is not None:
            raise RunError(f"worker exited while finishing:\n{worker.log_tail()}")
        done, fingerprint, left = _at_rest_state(bootstrap, group, topics)
        now = time.monotonic()
        if fingerprint != last:
            moved_at, last = now, fingerprint
        elif done and now - moved_at >= REST_S:
            return
        elif not done and now - moved_at >= STALL_S:
            raise Stalled(f"stalled: nothing committed for {STALL_S:.0f} s; behind: {left}")
        time.sleep(0.5)
    raise RunError(f"not at rest in time; behind: {left or 'outputs still moving'}")


async def _read_topic(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list[Json]:
    """Every read_committed record of ``topic`` up to its end; fails rather than returns
    part of it."""
    records: list[Json] = []
    async with kafka_ops.assigned_consumer(bootstrap, [topic]) as (consumer, partitions):
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        remaining: set[TopicPartition] = {tp for tp in partitions if ends[tp] > 0}
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                raise RunError(f"{topic}: could not read to the end in {timeout_s:.0f} s")
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for got in batch.values():
                records.extend(orjson.loads(r.value) for r in got)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    return records


def _stream(
    plan: KillPlan, options: Options, worker: Worker, rundir: Path, topics: _Topics
) -> tuple[int, Expected]:
    """Simulate the run's stream, replay it and produce it all; its length and the replay."""
    events_file = rundir / "events.jsonl"
    _cxpulse(
        worker.env,
        "simulate",
        "--seed", str(plan.stream_seed),
        "--count", str(options.events),
        "--output", str(events_file),
    )  # fmt: skip
    lines = events_file.read_bytes().splitlines()
    expected = expected_outputs(lines, settings_for(worker.env))
    _cxpulse(worker.env, "topics")
    records = [(str(orjson.loads(line)["customer_id"]).encode(), line) for line in lines]
    asyncio.run(kafka_ops.fill(options.bootstrap, topics.input, records))
    return len(lines), expected


def _kill(
    plan: KillPlan, result: RunResult, worker: Worker, topics: _Topics, deadline: float
) -> None:
    """Start the worker and kill -9 it as planned (twice for a double kill)."""
    bootstrap, group = worker.env["CXPULSE_KAFKA_BOOTSTRAP"], worker.env["CXPULSE_APP_ID"]
    worker.launch()
    target = max(1, round(plan.share * result.events))
    asyncio.run(
        _wait_input_committed(
            bootstrap, group, topics.input, target=target, worker=worker, deadline=deadline
        )
    )
    worker.stop(signal.SIGKILL)
    time.sleep(0.3)  # a commit already on the wire lands (or not) before the offsets are read
    offsets = asyncio.run(kafka_ops.committed(bootstrap, group))
    result.kills.append(KillPoint("the first kill -9", _committed_by_role(offsets, topics.roles)))
    if plan.second_kill_delay_s is not None:
        what = _kill_while_restoring(worker, plan.second_kill_delay_s, deadline)
        time.sleep(0.3)
        offsets = asyncio.run(kafka_ops.committed(bootstrap, group))
        result.kills.append(KillPoint(what, _committed_by_role(offsets, topics.roles)))


def run_once(plan: KillPlan, options: Options, workdir: Path, deadline: float) -> RunResult:
    started = time.monotonic()
    rundir = workdir / f"run-{plan.run:03d}"
    rundir.mkdir(parents=True)
    worker = make_worker(options.bootstrap, rundir, CXPULSE_PROCESSING_GUARANTEE=options.guarantee)
    result = RunResult(plan, options.events)
    group = worker.env["CXPULSE_APP_ID"]
    topics = _topics_of(settings_for(worker.env))
    bootstrap = options.bootstrap
    try:
        result.events, expected = _stream(plan, options, worker, rundir, topics)
        _kill(plan, result, worker, topics, deadline)
        worker.start(ready_timeout_s=max(1.0, min(120.0, deadline - time.monotonic())))
        try:
            _wait_at_rest(bootstrap, group, topics, worker, deadline)
        except Stalled as exc:
            result.error = f"{exc}"
        alerts = [r for t in topics.alerts for r in asyncio.run(_read_topic(bootstrap, t))]
        scores = asyncio.run(_read_topic(bootstrap, topics.scores))
        result.comparison = compare(alerts, scores, expected)
    except (RunError, RuntimeError, KafkaError, OSError, subprocess.SubprocessError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        worker.stop(signal.SIGKILL)  # its topics and data are dropped next: no need to wait
        try:
            asyncio.run(kafka_ops.delete_prefixed(bootstrap, topics.input.split("-")[0] + "-"))
            asyncio.run(kafka_ops.delete_prefixed(bootstrap, f"{group}-"))
        except KafkaError:
            pass
    result.seconds = time.monotonic() - started
    if options.keep or not result.exact:
        result.kept = rundir
    else:
        shutil.rmtree(rundir, ignore_errors=True)
    return result


# --- the soak -------------------------------------------------------------------------------


@dataclass
class SoakReport:
    results: list[RunResult]
    runs_asked: int
    guarantee: Guarantee
    stopped_early: bool

    @property
    def status(self) -> int:
        return exit_status(self.results, self.runs_asked, self.guarantee)


def run_soak(options: Options, say: Callable[[str], None] = print) -> SoakReport:
    """Run the planned kills one after the other, within ``options.time_limit_s``."""
    began = time.monotonic()
    limit = began + options.time_limit_s
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="cxpulse-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    plans = plan_runs(options.runs, options.seed)
    say(
        f"crash soak: {options.runs} runs, seed {options.seed}, {options.guarantee}, "
        f"{options.events:,} events each, broker {options.bootstrap}, "
        f"at most {options.time_limit_s:.0f} s; work dir {workdir}"
    )
    results: list[RunResult] = []
    stopped_early = False
    for plan in plans:
        # A failed run (a stall waits STALL_S) says little of how long the next one takes.
        estimate = max(
            (r.seconds for r in results if r.error is None), default=FIRST_RUN_ESTIMATE_S
        )
        if time.monotonic() + estimate > limit:
            stopped_early = True
            break
        deadline = min(limit, time.monotonic() + RUN_TIMEOUT_S)
        result = run_once(plan, options, workdir, deadline)
        results.append(result)
        say(progress_line(result, options.runs))
        if not result.exact:
            for line in diagnosis(result):
                say(line)
    if stopped_early:
        say(
            f"stopped by --time-limit ({options.time_limit_s:.0f} s) after {len(results)} "
            f"of {options.runs} runs"
        )
    if not any(r.kept for r in results) and not any(workdir.iterdir()):
        workdir.rmdir()
    say(f"soak took {time.monotonic() - began:.0f} s")
    say(other_differences_line(results))
    say(summary_line(results))
    return SoakReport(results, options.runs, options.guarantee, stopped_early)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through run_once's cleanup


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="kill -9 the worker at seeded points and compare with cxpulse replay",
    )
    parser.add_argument("--runs", type=int, required=True, help="number of runs (kill plans)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the plans and streams")
    parser.add_argument(
        "--guarantee", choices=("exactly_once", "at_least_once"), default="exactly_once"
    )
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka HOST:PORT")
    parser.add_argument(
        "--events", type=int, default=DEFAULT_EVENTS, help="simulated events per run"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=DEFAULT_TIME_LIMIT_S,
        help="seconds; no run starts that would likely end after it",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="default: a new temp dir")
    parser.add_argument(
        "--keep", action="store_true", help="keep every run's dir, not just failures"
    )
    args = parser.parse_args(argv)
    # aiokafka logs its own retries (a new topic's leader not yet elected): noise here.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    # A worker runs in its own session: stopped by a signal, the soak must still kill it.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    if args.runs < 1 or args.events < 100:
        parser.error("--runs must be >= 1 and --events >= 100")
    options = Options(
        runs=args.runs,
        seed=args.seed,
        guarantee=args.guarantee,
        bootstrap=args.bootstrap,
        events=args.events,
        time_limit_s=args.time_limit,
        workdir=args.workdir,
        keep=args.keep,
    )
    return run_soak(options).status


if __name__ == "__main__":
    sys.exit(main())
