"""`cxpulse tail`: print alerts (or any output topic) as they arrive, readable."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError

from cxpulse.config.kafka_security import (
    KafkaAccessError,
    aiokafka_security_kwargs,
    check_broker_access,
)
from cxpulse.config.settings import Settings

SEVERITY_MARK = {"critical": "!!", "warning": "! ", "info": "  "}


def format_record(value: bytes) -> str:
    """One line for a human: alerts get severity, kind, entity and reason."""
    try:
        record: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value.decode("utf-8", errors="replace")
    if isinstance(record, dict) and "alert_id" in record:
        mark = SEVERITY_MARK.get(str(record.get("severity")), "  ")
        return (
            f"{mark} {record.get('occurred_at')}  {str(record.get('severity')).upper():8} "
            f"{record.get('kind'):<22} {record.get('entity_type')}={record.get('entity_id')}  "
            f"{record.get('reason')}"
        )
    if isinstance(record, dict) and "error" in record and "stage" in record:
        error = record["error"]
        source = record.get("source", {})
        return (
            f"DEAD {source.get('topic')}[{source.get('partition')}]@{source.get('offset')}  "
            f"{error.get('reason')}: {error.get('message')}"
        )
    return orjson.dumps(record).decode()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--topic", help="topic to follow (default: the alerts topic, CXPULSE_ALERTS_TOPIC)"
    )
    parser.add_argument(
        "--from-beginning", action="store_true", help="start at the oldest record, not the newest"
    )
    parser.add_argument("--json", action="store_true", help="print records as raw JSON lines")
    parser.add_argument("--max", type=int, default=None, help="stop after this many records")
    parser.add_argument(
        "--idle-timeout", type=float, default=None, help="stop after this many idle seconds"
    )


async def follow(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    topic = args.topic or settings.alerts_topic
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        isolation_level="read_committed",  # never show output of an aborted transaction
        **aiokafka_security_kwargs(settings),
    )
    await check_broker_access(settings)
    await consumer.start()
    seen = 0
    try:
        while args.max is None or seen < args.max:
            batch = await consumer.getmany(timeout_ms=int((args.idle_timeout or 3600) * 1000))
            if not batch and args.idle_timeout is not None:
                break
            for records in batch.values():
                for record in records:
                    line = record.value.decode() if args.json else format_record(record.value)
                    print(line, file=out, flush=True)
                    seen += 1
                    if args.max is not None and seen >= args.max:
                        return 0
    finally:
        await consumer.stop()
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(follow(settings, args, sys.stdout))
    except KeyboardInterrupt:
        return 0
    except (KafkaAccessError, KafkaConnectionError) as exc:
        print(f"cxpulse tail: {exc}", file=sys.stderr)
        return 2
