"""`cxpulse schema`: print the JSON Schemas of the contract, for producers and consumers."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson
from pydantic import BaseModel

from cxpulse.schemas.events import EVENT_ADAPTER
from cxpulse.schemas.outputs import Alert, DeadLetter, Insight, ScoreSnapshot

OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    "alert": Alert,
    "score": ScoreSnapshot,
    "insight": Insight,
    "dead-letter": DeadLetter,
}


def schema_for(name: str) -> dict[str, Any]:
    if name == "event":
        return EVENT_ADAPTER.json_schema()
    return OUTPUT_MODELS[name].model_json_schema()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "which",
        nargs="?",
        default="event",
        choices=["event", *OUTPUT_MODELS, "all"],
        help="which schema to print (default: event, the v1 input contract)",
    )


def run(args: argparse.Namespace) -> int:
    names = ["event", *OUTPUT_MODELS] if args.which == "all" else [args.which]
    document: Any = (
        {name: schema_for(name) for name in names} if len(names) > 1 else schema_for(names[0])
    )
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
