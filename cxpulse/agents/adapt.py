"""``cxpulse adapt``: map vendor payloads from a file to canonical events on stdout.

The file holds one payload per line, one JSON array of payloads, or a single JSON object.
Mapped events are printed as JSON lines; each payload that cannot be mapped is reported on
stderr as ``line N: <reason>: <message>`` (N counts lines, or array items).  Exit code: 0 when every
payload mapped, 1 when any did not, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

import orjson

from cxpulse.agents.adapters import ADAPTERS, AdapterError
from cxpulse.schemas.events import event_to_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source", required=True, help=f"payload format, one of: {', '.join(ADAPTERS)}"
    )
    parser.add_argument("file", metavar="FILE", help="payload file, or - for standard input")


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


def _payloads(content: bytes) -> Iterator[tuple[int, bytes]]:
    """(number, payload) pairs: the items of a JSON array, a lone (pretty-printed) JSON
    object, or else one payload per non-blank line."""
    if content.lstrip()[:1] in (b"[", b"{"):
        try:
            document = orjson.loads(content)
        except orjson.JSONDecodeError:
            document = None
        if isinstance(document, list):
            for number, item in enumerate(document, start=1):
                yield number, orjson.dumps(item)
            return
        if isinstance(document, dict):
            yield 1, content
            return
    for number, line in enumerate(content.splitlines(), start=1):
        if line.strip():
            yield number, line


def run(args: argparse.Namespace) -> int:
    adapter = ADAPTERS.get(args.source)
    if adapter is None:
        print(
            f"unknown source {args.source!r}; valid sources: {', '.join(ADAPTERS)}",
            file=sys.stderr,
        )
        return 2
    try:
        content = _read(args.file)
    except OSError as exc:
        print(f"cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    failed = False
    for number, payload in _payloads(content):
        try:
            events = adapter(payload)
        except AdapterError as exc:
            failed = True
            print(f"line {number}: {exc.reason}: {exc.message}", file=sys.stderr)
            continue
        for event in events:
            sys.stdout.write(event_to_json(event).decode() + "\n")
    return 1 if failed else 0
