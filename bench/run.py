"""``python -m bench.run``: the cxpulse benchmark on a real Kafka broker.

Preloads simulator events into a fresh topic, then measures in the same run: the scoring
floor (validation, scoring and output encoding in-process, no Kafka), the raw aiokafka
consumer ceiling, a do-nothing faust agent, cxpulse end to end (median of
``--runs``), latency at a fixed offered rate, memory and state size with many customers,
one against two workers, the HTTP API (ingest and lookups through ``cxpulse gateway``), and
Quix Streams on the same topic as a peer (in its own virtual environment).
Prints a table, writes JSON; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from bench import steps
from bench.floor import ceilings as scoring_ceilings
from bench.floor import scoring_floor
from bench.gateway_step import http_step
from bench.processes import REPO
from bench.quix_step import QUIX_VERSION, quix_python, quix_run
from bench.steps import Context, median
from bench.workload import Workload, every_customer_once, workload
from cxpulse.config.settings import Settings

STEPS = ("scoring", "raw", "faust", "quix", "cxpulse", "latency", "memory", "scaling", "http")
#: The throughput steps that read the preloaded input topic (step 0 needs no broker).
ON_INPUT_TOPIC = {"raw", "faust", "quix", "cxpulse", "scaling"}
TARGETS = {
    "cxpulse_vs_faust": 0.8,
    "events_per_s_per_worker": 10_000,
    "p99_ms": 100,
    "peak_rss_mb": 400,
    "two_vs_one": 1.6,
    "http_ndjson_events_per_s": 10_000,
    "http_lookup_p99_ms": 20,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("CXPULSE_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        help="Kafka bootstrap servers [default $CXPULSE_KAFKA_BOOTSTRAP or 127.0.0.1:9092]",
    )
    parser.add_argument("--events", type=int, default=200_000, help="events per throughput run")
    parser.add_argument("--runs", type=int, default=3, help="repeats of steps 0-3 (median)")
    parser.add_argument("--customers", type=int, default=2_000, help="customers in steps 0-4, 6")
    parser.add_argument("--rate", type=float, default=2_000.0, help="offered events/s, step 4")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="length of step 4")
    parser.add_argument(
        "--memory-customers", type=int, default=100_000, help="customers in the memory step"
    )
    parser.add_argument(
        "--memory-events",
        type=int,
        default=None,
        help="events in the memory step, customers spread evenly [default: until every "
        "customer has made a contact, about 4.4 per --memory-customers]",
    )
    parser.add_argument(
        "--http-events", type=int, default=20_000, help="events posted as NDJSON, step 7"
    )
    parser.add_argument("--http-lookup-rate", type=float, default=500.0, help="lookups/s, step 7")
    parser.add_argument(
        "--http-ingest-rate", type=float, default=1_000.0, help="events/s posted during lookups"
    )
    parser.add_argument(
        "--http-seconds", type=float, default=10.0, help="length of step 7's lookup phase"
    )
    parser.add_argument("--partitions", type=int, default=4, help="partitions of every topic")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed")
    parser.add_argument(
        "--skip", action="append", choices=STEPS, default=[], help="leave a step out (repeatable)"
    )
    parser.add_argument(
        "--step-timeout", type=float, default=300.0, help="seconds any one wait may take"
    )
    parser.add_argument(
        "--json", type=Path, default=Path("var/bench/result.json"), help="where to write JSON"
    )
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = f"bench-{uuid.uuid4().hex[:6]}"
    ctx = Context(
        bootstrap=args.bootstrap,
        run_id=run_id,
        workdir=REPO / "var" / "bench" / run_id,
        partitions=args.partitions,
        step_timeout_s=args.step_timeout,
    )
    wanted = [step for step in STEPS if step not in args.skip]
    result: dict[str, Any] = {"machine": machine(), "config": config(args, run_id), "steps": {}}
    ctx.say(f"run {run_id} on {ctx.bootstrap}: steps {', '.join(wanted)}")
    try:
        result["steps"] = {
            **_throughput(ctx, args, wanted),
            **_latency(ctx, args, wanted),
            **_memory(ctx, args, wanted),
            **_http(ctx, args, wanted),
        }
    finally:
        if set(wanted) - {"scoring"}:
            steps.cleanup(ctx)
    result["ratios"] = ratios(result["steps"])
    result["ceilings"] = ceilings(result["steps"])
    result["targets"] = verdicts(result["steps"], result["ratios"])
    return result


def _throughput(ctx: Context, args: argparse.Namespace, wanted: list[str]) -> dict[str, Any]:
    """Steps 0, 1, 2, 3 and 6, all on one workload; 1-3 and 6 on one preloaded topic (each
    with a fresh group)."""
    if not ({"scoring"} | ON_INPUT_TOPIC) & set(wanted):
        return {}
    work = workload(args.events, args.customers, args.seed)
    count, runs = len(work), range(args.runs)
    measured: dict[str, Any] = {}
    if "scoring" in wanted:
        measured["scoring"] = _scoring(ctx, work, args.runs)
    if not ON_INPUT_TOPIC & set(wanted):
        return measured
    topic = f"{ctx.run_id}-input"
    steps.preload(ctx, topic, work)
    if "raw" in wanted:
        measured["raw"] = _repeat(
            ctx, "raw", [partial(steps.raw_consumer, ctx, topic, count, i) for i in runs]
        )
    if "faust" in wanted:
        measured["faust"] = _repeat(
            ctx, "faust", [partial(steps.faust_noop, ctx, topic, count, i) for i in runs]
        )
    if "quix" in wanted:
        measured["quix"] = _quix(ctx, topic, count, args.runs)
    if "cxpulse" in wanted:
        results = [
            _timed(
                ctx,
                f"cxpulse run {i + 1}/{args.runs}",
                partial(steps.cxpulse_run, ctx, f"{ctx.run_id}-c{i}", topic, count),
            )
            for i in runs
        ]
        measured["cxpulse"] = {
            "events_per_s": median([r.events_per_s for r in results]),
            "cpu_us_per_event": median([r.cpu_us_per_event for r in results]),
            "runs": [r.to_json() for r in results],
        }
    if "scaling" in wanted:
        two = _timed(
            ctx,
            "two workers",
            lambda: steps.cxpulse_run(
                ctx, f"{ctx.run_id}-s2", f"{ctx.run_id}-s2-input", count, workers=2, feed=work
            ),
        )
        measured["scaling"] = {"events_per_s": two.events_per_s, "two_workers": two.to_json()}
    return measured


def _scoring(ctx: Context, work: Workload, runs: int) -> dict[str, Any]:
    settings = Settings(partitions=ctx.partitions)
    found = []
    for i in range(runs):
        floor = _timed(ctx, f"scoring run {i + 1}/{runs}", partial(scoring_floor, work, settings))
        ctx.say(f"scoring run {i + 1}/{runs}: {floor.cpu_us_per_event:,.1f} µs per event")
        found.append(floor)
    return {
        "events_per_s": median([f.events_per_s for f in found]),
        "cpu_us_per_event": median([f.cpu_us_per_event for f in found]),
        "runs": [f.to_json() for f in found],
    }


def _latency(ctx: Context, args: argparse.Namespace, wanted: list[str]) -> dict[str, Any]:
    if "latency" not in wanted:
        return {}
    work = workload(int(args.rate * args.latency_seconds), args.customers, args.seed + 1)
    what = f"latency at {args.rate:.0f}/s for {args.latency_seconds:.0f} s"
    return {"latency": _timed(ctx, what, lambda: steps.latency(ctx, work, args.rate))}


def _memory(ctx: Context, args: argparse.Namespace, wanted: list[str]) -> dict[str, Any]:
    if "memory" not in wanted:
        return {}
    customers = args.memory_customers
    seed = args.seed + 2
    if args.memory_events is None:
        work = every_customer_once(customers, seed)
    else:
        work = workload(args.memory_events, customers, seed, spread="even")
    topic = f"{ctx.run_id}-mem-input"
    steps.preload(ctx, topic, work)
    found = _timed(
        ctx,
        f"memory with {customers:,} customers",
        lambda: steps.cxpulse_run(ctx, f"{ctx.run_id}-mem", topic, len(work), read_state=True),
    )
    return {"memory": {"customers": customers, "events": len(work), **found.to_json()}}


def _http(ctx: Context, args: argparse.Namespace, wanted: list[str]) -> dict[str, Any]:
    if "http" not in wanted:
        return {}
    single = 500
    live = int(args.http_ingest_rate * args.http_seconds)
    work = workload(args.http_events + single + live, args.customers, args.seed + 3)
    measure = partial(
        http_step,
        ctx,
        work,
        ndjson_events=args.http_events,
        ndjson_batch=1_000,
        single_events=single,
        lookup_rate=args.http_lookup_rate,
        ingest_rate=args.http_ingest_rate,
        lookup_seconds=args.http_seconds,
    )
    return {"http": _timed(ctx, "the HTTP API", measure)}


def _timed(ctx: Context, what: str, measure: Callable[[], Any]) -> Any:
    ctx.say(f"{what} ...")
    started = time.monotonic()
    value = measure()
    ctx.say(f"{what}: done in {time.monotonic() - started:.0f} s")
    return value


def _quix(ctx: Context, topic: str, count: int, runs: int) -> dict[str, Any]:
    """Step 8: Quix Streams do-nothing and per-key count, ``runs`` of each, medians."""
    found: dict[str, list[dict[str, Any]]] = {"noop": [], "count": []}
    python = quix_python(ctx)
    for i in range(runs):
        for mode, values in found.items():
            what = f"quix {mode} run {i + 1}/{runs}"
            value = _timed(ctx, what, partial(quix_run, ctx, python, topic, count, mode, run=i))
            ctx.say(f"{what}: {value['events_per_s']:,.0f} events/s")
            values.append(value)
    return {
        "version": QUIX_VERSION,
        "events_per_s": median([r["events_per_s"] for r in found["noop"]]),
        "cpu_us_per_event": median([r["cpu_us_per_event"] for r in found["noop"]]),
        "count_events_per_s": median([r["events_per_s"] for r in found["count"]]),
        "count_cpu_us_per_event": median([r["cpu_us_per_event"] for r in found["count"]]),
        "runs": found,
    }


def _repeat(ctx: Context, name: str, measures: list[Callable[[], float]]) -> dict[str, Any]:
    values = []
    for i, measure in enumerate(measures):
        value = _timed(ctx, f"{name} run {i + 1}/{len(measures)}", measure)
        ctx.say(f"{name} run {i + 1}/{len(measures)}: {value:,.0f} events/s")
        values.append(value)
    return {"events_per_s": median(values), "runs": values}


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def config(args: argparse.Namespace, run_id: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }


def ratios(measured: dict[str, Any]) -> dict[str, float]:
    found: dict[str, float] = {}
    cx = measured.get("cxpulse", {}).get("events_per_s")
    if cx:
        for name in ("faust", "raw"):
            if name in measured:
                found[f"cxpulse_vs_{name}"] = cx / measured[name]["events_per_s"]
        if "scaling" in measured:
            found["two_vs_one"] = measured["scaling"]["events_per_s"] / cx
        if "quix" in measured:
            found["cxpulse_vs_quix_count"] = cx / measured["quix"]["count_events_per_s"]
    if "quix" in measured and "faust" in measured:
        faust, quix = measured["faust"], measured["quix"]
        found["faust_vs_quix"] = faust["events_per_s"] / quix["events_per_s"]
    return found


def ceilings(measured: dict[str, Any]) -> dict[str, float]:
    """The best step 3 could do if a worker cost faust's do-nothing agent plus step 0."""
    if "scoring" not in measured or "faust" not in measured:
        return {}
    return scoring_ceilings(
        measured["faust"]["events_per_s"], measured["scoring"]["cpu_us_per_event"]
    )


def verdicts(measured: dict[str, Any], found: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Each target the run measured: the target, the value and whether it was met."""
    values: dict[str, float] = {}
    if "cxpulse_vs_faust" in found:
        values["cxpulse_vs_faust"] = found["cxpulse_vs_faust"]
    if "cxpulse" in measured:
        values["events_per_s_per_worker"] = measured["cxpulse"]["events_per_s"]
    if "latency" in measured:
        values["p99_ms"] = measured["latency"]["p99_ms"]
    if "memory" in measured:
        values["peak_rss_mb"] = max(measured["memory"]["peak_rss_mb"])
    if "two_vs_one" in found:
        values["two_vs_one"] = found["two_vs_one"]
    if "http" in measured:
        values["http_ndjson_events_per_s"] = measured["http"]["ndjson_events_per_s"]
        values["http_lookup_p99_ms"] = measured["http"]["lookup"]["p99_ms"]
    lower_is_better = {"p99_ms", "peak_rss_mb", "http_lookup_p99_ms"}
    return {
        name: {
            "target": TARGETS[name],
            "value": value,
            "met": value < TARGETS[name] if name in lower_is_better else value >= TARGETS[name],
        }
        for name, value in values.items()
    }


def table(result: dict[str, Any]) -> str:
    measured, rows = result["steps"], []
    if "scoring" in measured:
        rows.append(
            ("0 scoring alone, no Kafka", f"{measured['scoring']['events_per_s']:,.0f} events/s")
        )
        rows.append(("  CPU per event", f"{measured['scoring']['cpu_us_per_event']:,.1f} µs"))
    for name, label in (
        ("raw", "1 raw aiokafka consumer"),
        ("faust", "2 do-nothing agent, cxpulse's input path"),
        ("cxpulse", "3 cxpulse end to end"),
        ("scaling", "6 cxpulse, two workers"),
    ):
        if name in measured:
            rows.append((label, f"{measured[name]['events_per_s']:,.0f} events/s"))
    if "cxpulse" in measured:
        cpu = measured["cxpulse"]["cpu_us_per_event"]
        rows.append(("  worker CPU per event", f"{cpu:,.0f} µs"))
    if "quix" in measured:
        quix = measured["quix"]
        rows.append(
            (
                f"8 Quix Streams {quix['version']}, do-nothing",
                f"{quix['events_per_s']:,.0f} events/s, "
                f"{quix['cpu_us_per_event']:,.1f} µs CPU per event",
            )
        )
        rows.append(
            (
                "  per-key count, exactly-once",
                f"{quix['count_events_per_s']:,.0f} events/s, "
                f"{quix['count_cpu_us_per_event']:,.1f} µs CPU per event",
            )
        )
    for name, value in result["ratios"].items():
        rows.append((f"  ratio {name.replace('_', ' ')}", f"{value:.2f}"))
    if "cxpulse_vs_faust_ceiling" in result["ceilings"]:
        found = result["ceilings"]
        rows.append(("  ceiling of (3)/(2), (2) + (0)", f"{found['cxpulse_vs_faust_ceiling']:.2f}"))
        rows.append(
            ("  ceiling of (3), (2) + (0)", f"{found['events_per_s_ceiling']:,.0f} events/s")
        )
    if "scaling" in measured:
        each = measured["scaling"]["two_workers"]["per_worker_events"]
        rows.append(("  events per worker", " / ".join(f"{n:,}" for n in each)))
    if "latency" in measured:
        lat = measured["latency"]
        rows.append(
            (
                f"4 latency at {lat['achieved_per_s']:,.0f}/s",
                f"p50 {lat['p50_ms']:.0f} / p95 {lat['p95_ms']:.0f} / p99 {lat['p99_ms']:.0f} ms",
            )
        )
        over_time = " / ".join(
            f"{w['from_s']:.0f}s {w['p50_ms']:.0f}" for w in lat["score_by_produce_time"]
        )
        rows.append(("  p50 ms by produce time", over_time))
        rows.append(("  worker CPU per event, live", f"{lat['cpu_us_per_event']:,.0f} µs"))
    if "memory" in measured:
        mem = measured["memory"]
        keys = mem["table_keys"]
        rows.append((f"5 peak RSS, {mem['events']:,} events", f"{max(mem['peak_rss_mb']):.0f} MB"))
        rows.append(
            (
                "  state (table keys)",
                f"{keys.get('customers', 0):,} customers, {keys.get('entities', 0):,} entities",
            )
        )
    if "http" in measured:
        http = measured["http"]
        look = http["lookup"]
        rows.append(("7 HTTP ingest, NDJSON", f"{http['ndjson_events_per_s']:,.0f} events/s"))
        rows.append(("  one event per request", f"{http['single_events_per_s']:,.0f} events/s"))
        rows.append(
            (
                f"  lookups at {look['lookups_per_s']:,.0f}/s, {look['ingest_per_s']:,.0f} ev/s in",
                f"p50 {look['p50_ms']:.1f} / p99 {look['p99_ms']:.1f} ms",
            )
        )
    for name, verdict in result["targets"].items():
        rows.append((f"  target {name}", f"{'met' if verdict['met'] else 'MISSED'}"))
    width = max(len(label) for label, _ in rows) if rows else 0
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.events < 1 or args.runs < 1:
        print("bench: --events and --runs must be >= 1", file=sys.stderr)
        return 2
    result = run(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"bench: wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
