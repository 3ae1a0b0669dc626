"""``cxpulse simulate``: send the simulator's events to Kafka, or write them to a JSONL file.

Events go to the input topic keyed by ``customer_id`` (one customer's events stay in order on
one partition) by an idempotent producer that waits for all replicas.  Pacing is done per
chunk of events, a tenth of a second's worth, not one sleep per event.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import IO, Protocol

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from cxpulse.config.kafka_security import (
    KafkaAccessError,
    aiokafka_security_kwargs,
    check_broker_access,
)
from cxpulse.config.settings import Settings
from cxpulse.config.topics import BrokerUnavailable
from cxpulse.simulate import (
    CUSTOMER_SPREADS,
    DEFAULT_START,
    GroundTruth,
    Json,
    Simulation,
    SimulationConfig,
)
from cxpulse.simulate.config import add_staffing_arguments, staffing_from_args

DEFAULT_RATE = 200.0
DEFAULT_COUNT = 10_000
DEFAULT_SEED = 7
PROGRESS_EVERY_S = 5.0
CONNECT_TIMEOUT_S = 15.0
#: Unpaced runs send (and await acknowledgement of) this many events at a time.
UNPACED_CHUNK = 5_000
_DEFAULTS = SimulationConfig()


@dataclass(frozen=True, slots=True)
class ProduceSummary:
    sent: int
    seconds: float
    truth: GroundTruth


class _Sink(Protocol):
    description: str

    async def send(self, events: list[Json]) -> None: ...

    async def close(self) -> None: ...


class _FileSink:
    def __init__(self, path: Path) -> None:
        self.description = f"file {path}"
        self._file = path.open("wb")

    async def send(self, events: list[Json]) -> None:
        self._file.writelines(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in events)

    async def close(self) -> None:
        self._file.close()


class _KafkaSink:
    def __init__(self, settings: Settings) -> None:
        self.description = f"topic {settings.input_topic!r} at {settings.kafka_bootstrap}"
        self._settings = settings
        self._topic = settings.input_topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id=f"{settings.app_id}-simulate",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=256 * 1024,
            request_timeout_ms=int(CONNECT_TIMEOUT_S * 1000),
            **aiokafka_security_kwargs(settings),
        )

    async def start(self) -> None:
        try:
            await check_broker_access(self._settings, CONNECT_TIMEOUT_S)
        except KafkaAccessError as exc:
            raise BrokerUnavailable(str(exc)) from exc
        try:
            await asyncio.wait_for(self._producer.start(), CONNECT_TIMEOUT_S)
        except (TimeoutError, KafkaError, OSError) as exc:
            await self._producer.stop()
            why = (
                f"no answer within {CONNECT_TIMEOUT_S:.0f} s"
                if isinstance(exc, TimeoutError)
                else exc
            )
            raise BrokerUnavailable(
                f"cannot reach Kafka at {self._settings.kafka_bootstrap}: {why}; "
                "is the broker running (deploy/kafka/kafka.sh)?"
            ) from exc

    async def send(self, events: list[Json]) -> None:
        send = self._producer.send
        pending = [
            await send(self._topic, orjson.dumps(e), key=e["customer_id"].encode()) for e in events
        ]
        await asyncio.gather(*pending)

    async def close(self) -> None:
        await self._producer.stop()


async def _open_sink(settings: Settings, output: Path | None) -> _Sink:
    if output is not None:
        return _FileSink(output)
    sink = _KafkaSink(settings)
    await sink.start()
    return sink


def _chunks(events: Iterator[Json], size: int) -> Iterator[list[Json]]:
    while chunk := list(islice(events, size)):
        yield chunk


async def produce(
    settings: Settings,
    config: SimulationConfig,
    rate: float | None,
    output: Path | None,
    progress: IO[str] | None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> ProduceSummary:
    """Send ``config``'s events at ``rate`` events/s (None: as fast as possible).

    Writes JSONL to ``output`` when given, else produces to ``settings.input_topic``.
    Progress lines and a summary go to ``progress`` (None: silent).
    Raises ``BrokerUnavailable`` if Kafka cannot be reached.
    """
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be > 0 events/s, got {rate}")
    chunk_size = UNPACED_CHUNK if rate is None else max(1, min(UNPACED_CHUNK, int(rate / 10)))
    simulation = Simulation(config, settings.scoring_config())
    sink = await _open_sink(settings, output)
    started = last_report = clock()
    sent = 0
    try:
        for chunk in _chunks(simulation.events(), chunk_size):
            await sink.send(chunk)
            sent += len(chunk)
            now = clock()
            if rate is not None and (ahead := started + sent / rate - now) > 0:
                await asyncio.sleep(ahead)
            if progress is not None and now - last_report >= PROGRESS_EVERY_S:
                last_report = now
                print(f"simulate: {sent} sent, {sent / (now - started):.0f}/s", file=progress)
    finally:
        await sink.close()
    seconds = clock() - started
    summary = ProduceSummary(sent, seconds, simulation.truth())
    if progress is not None:
        print(
            f"simulate: sent {sent} events ({summary.truth.duplicates} duplicates) to "
            f"{sink.description} in {seconds:.1f} s ({sent / max(seconds, 1e-9):.0f}/s)",
            file=progress,
        )
    return summary


# --- command line --------------------------------------------------------------------


def _start_arg(text: str) -> datetime | None:
    """``now`` (None here, resolved when the run starts) or an RFC 3339 time with offset."""
    if text == "now":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from exc
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset; add Z or +hh:mm")
    return moment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``cxpulse simulate`` flags (Kafka settings are added by the caller)."""
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help=f"events per second of wall clock; 0 = as fast as possible "
        f"[default {DEFAULT_RATE:.0f} to Kafka, unpaced to --output]",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=DEFAULT_COUNT,
        help=f"number of events, duplicates included; 0 = endless [default {DEFAULT_COUNT}]",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed [default 7]")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="FILE.jsonl",
        help="write JSON lines to this file instead of producing to Kafka",
    )
    parser.add_argument(
        "--truth",
        type=Path,
        default=None,
        metavar="FILE.json",
        help="after the run, write the planted scenarios (ground truth) to this file",
    )
    parser.add_argument(
        "--start",
        type=_start_arg,
        default=None,
        metavar="RFC3339|now",
        help=f"event time of the first event. Default: now when producing to Kafka (recent "
        f"event times, so latency dashboards read sensibly), {DEFAULT_START:%Y-%m-%dT%H:%M:%SZ} "
        "with --output (files are reproducible). Event time then advances at "
        "--contacts-per-minute, not with the wall clock",
    )
    parser.add_argument(
        "--duplicates",
        type=float,
        default=_DEFAULTS.duplicate_fraction,
        metavar="FRACTION",
        help="share of events re-sent verbatim, as an at-least-once producer does "
        f"[default {_DEFAULTS.duplicate_fraction}]",
    )
    parser.add_argument(
        "--contacts-per-minute",
        type=float,
        default=_DEFAULTS.contacts_per_minute,
        help="new contacts per minute of event time, about five events each "
        f"[default {_DEFAULTS.contacts_per_minute:g}]",
    )
    parser.add_argument(
        "--customer-spread",
        choices=CUSTOMER_SPREADS,
        default=_DEFAULTS.customer_spread,
        help="skewed: a few customers contact the center far more often than most; even: "
        "customers take turns, each making a contact before any makes another "
        f"[default {_DEFAULTS.customer_spread}]",
    )
    for name in ("customers", "queues"):
        default = getattr(_DEFAULTS, name)
        parser.add_argument(
            f"--{name}", type=int, default=default, help=f"number of {name} [default {default}]"
        )
    add_staffing_arguments(parser)


def _config_from_args(args: argparse.Namespace) -> SimulationConfig:
    start: datetime | None = args.start
    if start is None:
        start = DEFAULT_START if args.output is not None else datetime.now(UTC)
    return SimulationConfig(
        seed=args.seed,
        count=args.count or None,
        start=start,
        customers=args.customers,
        customer_spread=args.customer_spread,
        queues=args.queues,
        contacts_per_minute=args.contacts_per_minute,
        duplicate_fraction=args.duplicates,
        **staffing_from_args(args),
    )


def _rate_from_args(args: argparse.Namespace) -> float | None:
    rate: float | None = args.rate
    if rate is None:
        return None if args.output is not None else DEFAULT_RATE
    return rate or None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of ``cxpulse simulate``; returns the process exit code."""
    try:
        config = _config_from_args(args)
        rate = _rate_from_args(args)
        summary = asyncio.run(produce(settings, config, rate, args.output, sys.stderr))
    except (ValueError, OSError, BrokerUnavailable, KafkaError) as exc:
        print(f"cxpulse simulate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if args.truth is not None:
        args.truth.write_bytes(orjson.dumps(summary.truth.to_json(), option=orjson.OPT_INDENT_2))
    return 0
