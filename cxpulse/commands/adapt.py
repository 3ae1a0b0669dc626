"""``cxpulse adapt``: map vendor payloads from a file to canonical events on stdout.

The file holds one payload per line, one JSON array of payloads, or a single JSON object.
Mapped events are printed as JSON lines; each payload that cannot be mapped is reported on
stderr as ``line N: <reason>: <message>`` (N counts lines, or array items).  Exit code: 0 when every
payload mapped, 1 when any did not, 2 on usage errors.

``--explain`` prints instead, per payload, the fields the adapter read, the fields it ignored
(present, never asked for), the fields it looked for and did not find, and the events or the
rejection that came out: a way to see what a platform's real payloads give cxpulse.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

import orjson

from cxpulse.adapters import ADAPTERS, Adapter, AdapterError
from cxpulse.adapters.base import Reading, reading
from cxpulse.schemas.events import Event, event_to_json
from cxpulse.scoring.anonymous import is_anonymous


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source", required=True, help=f"payload format, one of: {', '.join(ADAPTERS)}"
    )
    parser.add_argument("file", metavar="FILE", help="payload file, or - for standard input")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="per payload: fields read, fields ignored, events made or why it was rejected",
    )


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
    if getattr(args, "explain", False):
        return _explain(adapter, content)
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


def _fields(label: str, paths: list[str]) -> str:
    unique = list(dict.fromkeys(paths))
    return f"  {label} ({len(unique)}): {', '.join(unique) if unique else '-'}"


def _describe(event: Event) -> str:
    customer = event.customer_id
    if is_anonymous(customer):
        customer += " (anonymous: no customer alert or snapshot)"
    return f"    {event.type} {event.event_id} at {event.occurred_at.isoformat()} for {customer}"


def _report(number: int, recorded: Reading, outcome: list[Event] | AdapterError) -> list[str]:
    if isinstance(outcome, AdapterError):
        head = f"payload {number}: rejected, {outcome.reason}: {outcome.message}"
    else:
        head = f"payload {number}: {len(outcome)} event(s)"
    lines = [
        head,
        _fields("read", recorded.read()),
        _fields("ignored", recorded.ignored()),
        _fields("looked for, absent", recorded.missing),
    ]
    if not isinstance(outcome, AdapterError):
        lines += [_describe(event) for event in outcome]
    return lines


def _explain(adapter: Adapter, content: bytes) -> int:
    failed = False
    for number, payload in _payloads(content):
        outcome: list[Event] | AdapterError
        with reading() as recorded:
            try:
                outcome = adapter(payload)
            except AdapterError as exc:
                outcome = exc
                failed = True
        sys.stdout.write("\n".join(_report(number, recorded, outcome)) + "\n")
    return 1 if failed else 0
