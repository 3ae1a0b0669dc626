"""The `cxpulse` command: worker, simulate, tail, replay, adapt, topics, schema."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from cxpulse import replay
from cxpulse.commands import adapt, schema, simulate, tail
from cxpulse.config.collector import pace_collector
from cxpulse.config.kafka_security import hide_sasl_payloads_in_logs
from cxpulse.config.settings import Settings, add_settings_arguments, settings_from_args
from cxpulse.config.topics import BrokerUnavailable, ensure_topics

DESCRIPTION = """\
cxpulse: consistency and dazzle / de-dazzle scores for contact centers, streamed.
Every setting can be given as a flag or a CXPULSE_* environment variable (see each
command's --help)."""


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from cxpulse.worker.run import run_worker  # imports faust: only for this command

    return run_worker(settings)


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    try:
        created = asyncio.run(ensure_topics(settings))
    except BrokerUnavailable as exc:
        print(f"cxpulse topics: {exc}", file=sys.stderr)
        return 2
    print(f"created: {', '.join(created) if created else 'none (all topics exist)'}")
    return 0


Runner = Callable[[argparse.Namespace, Settings], int]

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None] | None, Runner]] = {
    "worker": ("run the streaming pipeline (faust worker); blocks", None, _worker),
    "simulate": (
        "produce seeded, realistic contact-center traffic",
        simulate.add_arguments,
        simulate.run,
    ),
    "tail": ("print alerts (or another output topic) as they arrive", tail.add_arguments, tail.run),
    "replay": (
        "score a JSONL file of events in-process, exactly as the stream does",
        replay.add_arguments,
        replay.run,
    ),
    "topics": ("create the topics cxpulse uses (idempotent)", None, _topics),
}


def _notify(args: argparse.Namespace, settings: Settings) -> int:
    from cxpulse.notify.service import run  # imports aiohttp: only for this command

    return run(args, settings)


COMMANDS["notify"] = (
    "forward the alerts topic to Prometheus Alertmanager (its own consumer); blocks",
    None,
    _notify,
)


def _gateway(args: argparse.Namespace, settings: Settings) -> int:
    from cxpulse.api.gateway import run  # imports aiohttp: only for this command

    return run(args, settings)


COMMANDS["gateway"] = (
    "the HTTP API: events and signed platform webhooks into Kafka, score lookup; blocks",
    None,
    _gateway,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cxpulse",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (summary, add_arguments, _) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        if add_arguments is not None:
            add_arguments(sub)
        add_settings_arguments(sub)
    adapt_parser = commands.add_parser(
        "adapt", help="map a vendor payload file to canonical events (no Kafka)"
    )
    adapt.add_arguments(adapt_parser)
    schema_parser = commands.add_parser(
        "schema", help="print the JSON Schema of the events (or of an output)"
    )
    schema.add_arguments(schema_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    hide_sasl_payloads_in_logs()
    args = build_parser().parse_args(argv)
    if args.command == "adapt":
        return adapt.run(args)
    if args.command == "schema":
        return schema.run(args)
    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        print(f"cxpulse {args.command}: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    pace_collector(settings.gc_young_threshold)
    return COMMANDS[args.command][2](args, settings)


if __name__ == "__main__":
    sys.exit(main())
