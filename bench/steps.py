"""The measurements.  Each step starts what it needs, waits with a deadline and cleans up.

Throughput is always events / (time of the last processed event - time of the first), so
group joins and worker start-up are left out the same way for the raw consumer, the
do-nothing faust agent and cxpulse:

* raw consumer: wall clock at the first and the last ``getmany`` that returned records;
* do-nothing agent: wall clock at its first and last batch (reported on ``/bench``);
* cxpulse: Kafka timestamps of the first and the last record the worker wrote to its
  outputs (scores, alerts, insights, summaries), read once the run is complete.

A cxpulse run is complete when the worker group's committed offsets reach the end of the
input, events and summaries topics.  faust flushes its producer before it commits, so
at that point every output exists.  The ``scores`` topic alone would not do: an event
that changes no score (a duplicate, a late event) emits nothing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from bench import kafka_ops
from bench.processes import WorkerProcess, free_port
from bench.workload import Workload
from cxpulse.worker.web import GAUGE_REFRESH_SECONDS, TABLE_KEYS_REFRESH_SECONDS

POLL_S = 0.5
PROGRESS_EVERY_S = 60.0
READY_TIMEOUT_S = 90.0
#: cxpulse counts table keys on its gauge timer, at most every TABLE_KEYS_REFRESH_SECONDS;
#: the wait covers one count.
GAUGE_REFRESH_WAIT_S = TABLE_KEYS_REFRESH_SECONDS + GAUGE_REFRESH_SECONDS + 3.0


@dataclass(frozen=True)
class Context:
    bootstrap: str
    run_id: str
    workdir: Path
    partitions: int
    step_timeout_s: float

    def say(self, message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)


def _wait(
    what: str,
    check: Callable[[], bool],
    timeout_s: float,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Poll ``check`` until it holds; every ``PROGRESS_EVERY_S`` meanwhile, call
    ``progress`` with the seconds waited so far."""
    started = time.monotonic()
    reported = started
    while not check():
        now = time.monotonic()
        if now > started + timeout_s:
            raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
        if progress is not None and now - reported >= PROGRESS_EVERY_S:
            progress(now - started)
            reported = now
        time.sleep(POLL_S)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# --- 1. raw aiokafka consumer ------------------------------------------------------------


async def _raw_consume(bootstrap: str, topic: str, group: str, count: int) -> float:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        read, first, last = 0, 0.0, 0.0
        while read < count:
            asked = time.time()  # the first fetch counts: a small topic may come in one
            batch = await consumer.getmany(timeout_ms=500)
            got = sum(len(records) for records in batch.values())
            if got:
                first = first or asked
                last = time.time()
                read += got
        return count / (last - first)
    finally:
        await consumer.stop()


def raw_consumer(ctx: Context, topic: str, count: int, run: int) -> float:
    group = f"{ctx.run_id}-raw{run}"
    return asyncio.run(
        asyncio.wait_for(_raw_consume(ctx.bootstrap, topic, group, count), ctx.step_timeout_s)
    )


# --- workers -----------------------------------------------------------------------------


def worker_env(ctx: Context, app_id: str, input_topic: str, port: int) -> dict[str, str]:
    """A worker of ``app_id``: its group, and topics named after it (deleted afterwards)."""
    return {
        **os.environ,
        "CXPULSE_KAFKA_BOOTSTRAP": ctx.bootstrap,
        "CXPULSE_APP_ID": app_id,
        "CXPULSE_INPUT_TOPIC": input_topic,
        "CXPULSE_EVENTS_TOPIC": f"{app_id}-events",
        "CXPULSE_SUMMARIES_TOPIC": f"{app_id}-summaries",
        "CXPULSE_ALERTS_TOPIC": f"{app_id}-alerts",
        "CXPULSE_SCORES_TOPIC": f"{app_id}-scores",
        "CXPULSE_INSIGHTS_TOPIC": f"{app_id}-insights",
        "CXPULSE_DEAD_LETTER_TOPIC": f"{app_id}-dead-letters",
        "CXPULSE_RAW_TOPIC_PREFIX": f"{app_id}-raw.",
        "CXPULSE_DATA_DIR": str(ctx.workdir / app_id / f"data-{port}"),
        "CXPULSE_WEB_PORT": str(port),
        "CXPULSE_PARTITIONS": str(ctx.partitions),
        "CXPULSE_LOG_LEVEL": "info",  # the default; see docs/performance.md on "warn"
    }


def worker_process(ctx: Context, module: str, app_id: str, input_topic: str) -> WorkerProcess:
    port = free_port()
    args = ["worker"] if module == "cxpulse.commands.cli" else []
    env = worker_env(ctx, app_id, input_topic, port)
    return WorkerProcess(module, args, env, ctx.workdir / app_id / f"worker-{port}.log")


def drop_topics(ctx: Context, app_id: str) -> None:
    asyncio.run(kafka_ops.delete_prefixed(ctx.bootstrap, f"{app_id}-"))


# --- 2. do-nothing faust agent -----------------------------------------------------------


def faust_noop(ctx: Context, topic: str, count: int, run: int) -> float:
    app_id = f"{ctx.run_id}-noop{run}"
    worker = worker_process(ctx, "bench.noop_worker", app_id, topic)
    try:
        worker.start()
        worker.wait_ready(READY_TIMEOUT_S)
        seen: dict[str, Any] = {}

        def done() -> bool:
            seen.update(worker.get_json("/bench"))
            return int(seen["count"]) >= count

        _wait("the do-nothing agent reading every event", done, ctx.step_timeout_s)
        return count / (float(seen["last"]) - float(seen["first"]))
    finally:
        worker.stop()
        drop_topics(ctx, app_id)


# --- 3, 5, 6. cxpulse workers ------------------------------------------------------------


@dataclass(frozen=True)
class CxpulseRun:
    events_per_s: float
    events_per_s_from_ready: float
    seconds: float
    per_worker_events: list[int]
    #: CPU time of the workers from ready to done, per event: unlike events/s, it does
    #: not depend on what else shares the cores.
    cpu_us_per_event: float
    peak_rss_mb: list[float]
    ready_rss_mb: list[float]
    table_keys: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


class _Progress:
    """Whether a worker group has committed every record; says what is left if not."""

    def __init__(self, ctx: Context, app_id: str, input_topic: str) -> None:
        self._bootstrap = ctx.bootstrap
        self._group = app_id
        self._topics = [input_topic, f"{app_id}-events", f"{app_id}-summaries"]
        self.left = "nothing committed yet"
        self.input_committed = 0
        self.input_end = 0

    def complete(self) -> bool:
        """Checks the input first: the internal topics, dearer to read (transaction
        markers), only once the input is done, so the polling takes little CPU from the
        worker it measures."""
        done = asyncio.run(kafka_ops.committed(self._bootstrap, self._group))
        ends = asyncio.run(kafka_ops.end_offsets(self._bootstrap, self._topics[:1]))
        self.input_end = sum(ends.values())
        self.input_committed = sum(min(done.get(tp, 0), end) for tp, end in ends.items())
        if all(done.get(tp, 0) >= end for tp, end in ends.items()):
            ends |= asyncio.run(kafka_ops.end_offsets(self._bootstrap, self._topics[1:]))
        behind = {tp: end - done.get(tp, 0) for tp, end in ends.items() if end > done.get(tp, 0)}
        if behind:
            self.left = ", ".join(
                f"{tp.topic}[{tp.partition}] {done.get(tp, 0)} of {ends[tp]}"
                for tp in sorted(behind)
            )
        return not behind and any(tp.topic == self._topics[0] for tp in done)


def wait_committed(ctx: Context, what: str, app_id: str, input_topic: str) -> None:
    progress = _Progress(ctx, app_id, input_topic)

    def report(waited_s: float) -> None:
        ctx.say(
            f"{what}: {progress.input_committed:,} of {progress.input_end:,} input events "
            f"committed after {waited_s:.0f} s"
        )

    try:
        _wait(what, progress.complete, ctx.step_timeout_s, report)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; committed offsets behind: {progress.left}") from None


def metric_values(text: str, name: str) -> dict[str, float]:
    """Prometheus text: ``{labels: value}`` of the samples called ``name``."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            series, _, value = line.rpartition(" ")
            values[series[len(name) :]] = float(value)
    return values


def _vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cxpulse_run(
    ctx: Context,
    app_id: str,
    input_topic: str,
    count: int,
    *,
    workers: int = 1,
    read_state: bool = False,
    feed: Workload | None = None,
) -> CxpulseRun:
    """Run ``workers`` cxpulse workers of one group over ``count`` preloaded events.

    With ``feed``, ``input_topic`` is created empty and gets ``feed`` once every worker
    is ready: workers that start together join the group a few seconds apart (the first
    learns of the second at its next heartbeat), and the first alone would work through
    the backlog meanwhile.  ``read_state`` waits for the table-size gauge to refresh
    before reading it.
    """
    procs = [
        worker_process(ctx, "cxpulse.commands.cli", app_id, input_topic) for _ in range(workers)
    ]
    try:
        if feed is not None:
            asyncio.run(kafka_ops.create_topic(ctx.bootstrap, input_topic, ctx.partitions))
        for proc in procs:
            proc.start()
        ready_at = min(proc.wait_ready(READY_TIMEOUT_S) for proc in procs)
        if feed is not None:
            ready_at = max(proc.wait_ready(READY_TIMEOUT_S) for proc in procs)
        ready_rss = [_vm_rss_mb(proc.pid) for proc in procs]
        ready_cpu = sum(proc.cpu_seconds() for proc in procs)
        if feed is not None:
            seconds = asyncio.run(kafka_ops.fill(ctx.bootstrap, input_topic, feed.records))
            ctx.say(f"fed {len(feed)} events to {workers} ready workers in {seconds:.1f} s")
        wait_committed(
            ctx, f"cxpulse ({app_id}) processing all {count} events", app_id, input_topic
        )
        busy_cpu = sum(proc.cpu_seconds() for proc in procs) - ready_cpu
        outputs = [f"{app_id}-{name}" for name in ("scores", "alerts")]
        edges = asyncio.run(kafka_ops.edge_timestamps(ctx.bootstrap, outputs))
        if edges is None:
            raise RuntimeError(f"cxpulse ({app_id}) wrote no output")
        first, last = edges[0] / 1000, edges[1] / 1000
        if read_state:
            time.sleep(GAUGE_REFRESH_WAIT_S)
        texts = [proc.get("/metrics").decode() for proc in procs]
        keys: dict[str, int] = {}
        for text in texts:
            for labels, value in metric_values(text, "cxpulse_table_keys").items():
                table = labels.split('"')[1]
                keys[table] = keys.get(table, 0) + int(value)
        return CxpulseRun(
            events_per_s=count / (last - first),
            events_per_s_from_ready=count / (last - min(ready_at, first)),
            seconds=last - first,
            per_worker_events=[
                int(sum(metric_values(text, "cxpulse_events_total").values())) for text in texts
            ],
            cpu_us_per_event=busy_cpu / count * 1e6,
            peak_rss_mb=[proc.peak_rss_mb() for proc in procs],
            ready_rss_mb=ready_rss,
            table_keys=keys,
        )
    finally:
        for proc in procs:
            proc.stop()
        drop_topics(ctx, app_id)


def preload(ctx: Context, topic: str, work: Workload) -> None:
    seconds = asyncio.run(kafka_ops.preload(ctx.bootstrap, topic, work.records, ctx.partitions))
    ctx.say(f"preloaded {len(work)} events into {topic} in {seconds:.1f} s")


# --- 4. latency at a fixed offered rate --------------------------------------------------


async def _paced_produce(
    bootstrap: str, topic: str, work: Workload, rate: float
) -> tuple[dict[str, int], float]:
    """Send at ``rate`` events/s in 50 ms ticks; returns each event's produce timestamp (ms)
    and the achieved rate."""
    tick = 0.05
    per_tick = max(1, round(rate * tick))
    produced: dict[str, int] = {}
    async with kafka_ops.producer_client(bootstrap) as producer:
        started = time.monotonic()
        pending: list[tuple[str, Any]] = []
        for index in range(0, len(work), per_tick):
            ahead = started + index / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
            for (key, value), event_id in zip(
                work.records[index : index + per_tick],
                work.event_ids[index : index + per_tick],
                strict=True,
            ):
                pending.append((event_id, await producer.send(topic, value, key=key)))
        elapsed = time.monotonic() - started
        for event_id, future in pending:
            meta = await future
            produced.setdefault(event_id, meta.timestamp)  # a re-send keeps the first time
    return produced, len(work) / max(elapsed, 1e-9)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"count": len(ordered), "p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99)}


def output_latencies(
    produced: dict[str, int], scores: list[Any], alerts: list[Any]
) -> dict[str, list[float]]:
    """Output Kafka timestamp minus the produce timestamp of the event behind it: a
    snapshot's ``event_id``; for an alert, the latest-produced event of its evidence."""
    snapshots = _snapshot_latencies(produced, scores)
    found: dict[str, list[float]] = {"score": [latency for _, latency in snapshots], "alert": []}
    for record in alerts:
        evidence = orjson.loads(record.value).get("evidence", [])
        times = [produced[e] for e in evidence if e in produced]
        if times:
            found["alert"].append(record.timestamp - max(times))
    return found


def _snapshot_latencies(produced: dict[str, int], scores: list[Any]) -> list[tuple[int, float]]:
    """(produce timestamp, latency) of every snapshot whose ``event_id`` was produced."""
    found = []
    for record in scores:
        sent = produced.get(orjson.loads(record.value).get("event_id", ""))
        if sent is not None:
            found.append((sent, record.timestamp - sent))
    return found


def latency_over_time(
    produced: dict[str, int], scores: list[Any], window_s: float = 5.0
) -> list[dict[str, float]]:
    """Snapshot latency per ``window_s`` of produce time.

    A delay that jumps or grows during the run (a backlog the worker does not make up)
    shows here, where the percentiles over the whole run hide it.
    """
    found = _snapshot_latencies(produced, scores)
    if not found:
        return []
    start = min(sent for sent, _ in found)
    windows: dict[int, list[float]] = {}
    for sent, latency in found:
        windows.setdefault(int((sent - start) / (window_s * 1000)), []).append(latency)
    return [
        {"from_s": index * window_s, **percentiles(values)}
        for index, values in sorted(windows.items())
    ]


def latency(ctx: Context, work: Workload, rate: float) -> dict[str, Any]:
    app_id = f"{ctx.run_id}-lat"
    topic = f"{app_id}-input"
    proc = worker_process(ctx, "cxpulse.commands.cli", app_id, topic)
    try:
        proc.start()  # the worker creates its (empty) input topic
        proc.wait_ready(READY_TIMEOUT_S)
        ready_cpu = proc.cpu_seconds()
        produced, achieved = asyncio.run(_paced_produce(ctx.bootstrap, topic, work, rate))
        wait_committed(ctx, "cxpulse catching up with the paced input", app_id, topic)
        busy_cpu = proc.cpu_seconds() - ready_cpu
        scores = asyncio.run(kafka_ops.read_all(ctx.bootstrap, [f"{app_id}-scores"]))
        alerts = asyncio.run(kafka_ops.read_all(ctx.bootstrap, [f"{app_id}-alerts"]))
    finally:
        proc.stop()
        drop_topics(ctx, app_id)
    found = output_latencies(produced, scores, alerts)
    everything = found["score"] + found["alert"]
    if not everything:
        raise RuntimeError("no output could be matched to an input event")
    return {
        "offered_per_s": rate,
        "achieved_per_s": achieved,
        "events": len(work),
        # A live stream comes in small batches, so it costs more per event than a backlog.
        "cpu_us_per_event": busy_cpu / len(work) * 1e6,
        **percentiles(everything),
        "by_output": {kind: percentiles(v) for kind, v in found.items() if v},
        "score_by_produce_time": latency_over_time(produced, scores),
    }


def cleanup(ctx: Context) -> None:
    """Delete every topic of the run (its input and anything a step left behind)."""
    deleted = asyncio.run(kafka_ops.delete_prefixed(ctx.bootstrap, f"{ctx.run_id}-"))
    ctx.say(f"deleted {deleted} topics of {ctx.run_id}")
