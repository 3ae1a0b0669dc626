"""Shared types and helpers for the vendor adapters.

An adapter turns the raw bytes of one vendor payload into canonical v1 events.  It is pure
and total: whatever the bytes, it returns validated events or raises ``AdapterError`` with a
stable ``reason`` code, never anything else.

Event ids are derived, never random: ``event_id(source, interaction, kind, ...)`` hashes the
source's own ids, so a payload delivered twice (or two payloads describing the same fact)
yields the same id and the pipeline's dedup drops the copy.

A contact whose payload names no customer gets the contact-scoped anonymous key
``anon:<source>:<contact id>`` (``Contact(customer_id=None)``): it is scored for its agent,
queue and service, never as a customer (``cxpulse.scoring.anonymous``).

``reading()`` records which keys of which objects an adapter read, for ``cxpulse adapt
--explain``; outside it, ``Fields`` records nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from cxpulse.schemas.events import EVENT_ADAPTER, Channel, Event
from cxpulse.scoring.anonymous import anonymous_customer

#: The payload is not JSON (or not UTF-8).
INVALID_JSON = "invalid_json"
#: The payload is not a form-encoded body.
INVALID_FORM = "invalid_form"
#: A value has the wrong JSON type (an object where a string belongs, ...).
INVALID_SHAPE = "invalid_shape"
#: A field the mapping needs is absent.
MISSING_FIELD = "missing_field"
#: A value has the right type but cannot be used (bad timestamp, out of range, ...).
INVALID_VALUE = "invalid_value"
#: The payload is of a kind this adapter does not read (wrong vendor, wrong stream).
UNSUPPORTED = "unsupported"
#: The payload is readable but no canonical event can be built from it.  (Before contacts
#: without a customer got an anonymous key, a missing customer was this reason.)
UNMAPPABLE = "unmappable"

#: Free text longer than the contract allows is cut here (comments, wrap-up notes).
MAX_NOTE_CHARS = 20_000


class AdapterError(Exception):
    """A payload that cannot be mapped; ``reason`` is a stable code, ``message`` a sentence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


Adapter = Callable[[bytes], list[Event]]


def decode_json(raw: bytes) -> Any:
    """Parse JSON bytes; any failure (syntax, encoding, nesting depth) is ``invalid_json``."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise AdapterError(INVALID_JSON, f"payload is not valid JSON ({exc})") from None


def event_id(source: str, *parts: str) -> str:
    """A stable id from the source's own ids: same parts, same id."""
    digest = hashlib.sha256("\x1f".join((source, *parts)).encode()).hexdigest()[:32]
    return f"{source}:{digest}"


def last_segment(arn_or_path: str) -> str:
    """The trailing id of an ARN or path (``.../queue/<id>`` -> ``<id>``)."""
    return arn_or_path.rstrip("/").rsplit("/", 1)[-1]


def parse_iso_time(value: str, where: str) -> datetime:
    """An RFC 3339 / ISO 8601 timestamp with an offset (``Z`` accepted)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise AdapterError(INVALID_VALUE, f"{where} is not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise AdapterError(INVALID_VALUE, f"{where} has no UTC offset: {value!r}")
    return parsed


def from_epoch(value: float, scale: float, where: str) -> datetime:
    """A Unix time given in units of ``1/scale`` seconds (``scale=1000`` for milliseconds)."""
    try:
        return datetime.fromtimestamp(value / scale, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise AdapterError(
            INVALID_VALUE, f"{where} is not a plausible Unix time: {value}"
        ) from None


@dataclass
class Reading:
    """What an adapter looked at: every object it read from, and the keys it asked for.

    Objects are told apart by identity, so two ``Fields`` over the same JSON object share
    their read keys."""

    #: id of the JSON object -> (its path, the object (kept alive, so the id stays its
    #: own), the keys read).
    objects: dict[int, tuple[str, Mapping[str, Any], dict[str, None]]] = field(default_factory=dict)
    #: Paths looked up but absent or null.
    missing: list[str] = field(default_factory=list)

    def keys_read(self, data: Mapping[str, Any], path: str) -> dict[str, None]:
        known = self.objects.get(id(data))
        if known is None:
            known = self.objects[id(data)] = (path, data, {})
        return known[2]

    def read(self) -> list[str]:
        return [_joined(path, key) for path, _, read in self.objects.values() for key in read]

    def ignored(self) -> list[str]:
        """Keys present in an object that was read from, that the adapter never asked for."""
        return [
            _joined(path, key)
            for path, data, read in self.objects.values()
            for key in map(str, data)
            if key not in read
        ]


def _joined(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_READING: ContextVar[Reading | None] = ContextVar("cxpulse_adapter_reading", default=None)


@contextmanager
def reading() -> Iterator[Reading]:
    """Record the reads of the adapter calls made inside the block."""
    recorded = Reading()
    token = _READING.set(recorded)
    try:
        yield recorded
    finally:
        _READING.reset(token)


class Fields:
    """Typed reads from one decoded JSON object.

    A missing key or JSON ``null`` reads as ``None``; a value of the wrong type is an
    ``AdapterError`` naming its path.  Keys match exactly first, then case-insensitively,
    because vendors are not consistent about ``agentInfo`` vs ``AgentInfo``.
    """

    __slots__ = ("_data", "_folded", "_reading", "path", "read_keys")

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self._data = data
        self._folded: dict[str, str] | None = None
        self.path = path
        self._reading = _READING.get()
        self.read_keys: dict[str, None] = (
            {} if self._reading is None else self._reading.keys_read(data, path)
        )

    @classmethod
    def of(cls, value: Any, path: str) -> Fields:
        if not isinstance(value, Mapping):
            raise AdapterError(
                INVALID_SHAPE, f"{path} must be a JSON object, got {type_name(value)}"
            )
        return cls(value, path)

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str) -> Any:
        if key in self._data:
            found: str | None = key
        else:
            if self._folded is None:
                self._folded = {str(k).casefold(): k for k in self._data}
            found = self._folded.get(key.casefold())
        if self._reading is not None:
            if found is None or self._data[found] is None:
                self._reading.missing.append(self.where(key))
            else:
                self.read_keys[str(found)] = None
        return None if found is None else self._data[found]

    def names(self) -> list[str]:
        return [str(key) for key in self._data]

    def child(self, key: str) -> Fields | None:
        value = self.raw(key)
        return None if value is None else Fields.of(value, self.where(key))

    def require_child(self, key: str) -> Fields:
        found = self.child(key)
        if found is None:
            raise AdapterError(MISSING_FIELD, f"{self.where(key)} is missing")
        return found

    def items(self, key: str) -> list[Any]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise AdapterError(
                INVALID_SHAPE, f"{self.where(key)} must be a list, got {type_name(value)}"
            )
        return value

    def text(self, key: str) -> str | None:
        """A string (blank reads as ``None``); integer ids are accepted as their digits."""
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise AdapterError(
                INVALID_SHAPE, f"{self.where(key)} must be a string, got {type_name(value)}"
            )
        text = str(value).strip()
        return text or None

    def require_text(self, key: str) -> str:
        found = self.text(key)
        if found is None:
            raise AdapterError(MISSING_FIELD, f"{self.where(key)} is missing")
        return found

    def number(self, key: str) -> float | None:
        """A finite number; numeric strings are accepted (form bodies and attributes)."""
        value = self.raw(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise AdapterError(INVALID_SHAPE, f"{self.where(key)} must be a number, got bool")
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise AdapterError(
                    INVALID_VALUE, f"{self.where(key)} is not a number: {value!r}"
                ) from None
        else:
            raise AdapterError(
                INVALID_SHAPE, f"{self.where(key)} must be a number, got {type_name(value)}"
            )
        if not math.isfinite(number):
            raise AdapterError(INVALID_VALUE, f"{self.where(key)} is not finite: {value!r}")
        return number

    def integer(self, key: str) -> int | None:
        number = self.number(key)
        if number is None:
            return None
        if not number.is_integer():
            raise AdapterError(INVALID_VALUE, f"{self.where(key)} is not a whole number: {number}")
        return int(number)

    def iso_time(self, key: str) -> datetime | None:
        text = self.text(key)
        return None if text is None else parse_iso_time(text, self.where(key))

    def epoch_time(self, key: str, scale: float) -> datetime | None:
        number = self.number(key)
        return None if number is None else from_epoch(number, scale, self.where(key))


def type_name(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "bool", type(None): "null"}
    return names.get(type(value), "number" if isinstance(value, int | float) else "value")


@dataclass(frozen=True)
class Contact:
    """The envelope fields shared by every event of one interaction.

    ``customer_id`` None: the payload names no customer, and each event gets the anonymous
    key of the interaction it is about (``anon:<source>:<interaction id>``)."""

    source: str
    interaction_id: str
    customer_id: str | None
    channel: Channel | None = None
    queue_id: str | None = None
    agent_id: str | None = None

    def event(self, kind: str, occurred_at: datetime, *key: str, **fields: Any) -> dict[str, Any]:
        """One event of type ``kind``; its id depends on the interaction, kind and ``key``."""
        return {
            "event_id": event_id(self.source, self.interaction_id, kind, *key),
            "type": kind,
            "occurred_at": occurred_at,
            "customer_id": self.customer_id or anonymous_customer(self.source, self.interaction_id),
            "interaction_id": self.interaction_id,
            "channel": self.channel,
            "queue_id": self.queue_id,
            "agent_id": self.agent_id,
            "source": self.source,
            **fields,
        }


def validated(candidates: Iterable[dict[str, Any]]) -> list[Event]:
    """Validate mapped events against the v1 contract; the first failure is ``invalid_value``."""
    events: list[Event] = []
    for candidate in candidates:
        try:
            events.append(EVENT_ADAPTER.validate_python(candidate))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"][1:]) or "event"
            raise AdapterError(
                INVALID_VALUE,
                f"mapped {candidate.get('type')} event is invalid: {field}: {first['msg']}",
            ) from None
    return events


def first_identity(candidates: Iterable[str | None]) -> str | None:
    """The first candidate customer identity present (the documented fallback order)."""
    return next((candidate for candidate in candidates if candidate), None)


def seconds(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else milliseconds / 1000


def note_text(text: str | None) -> str | None:
    """Free text fit for ``conversation.note``: blank is ``None``, overlong is cut."""
    if text is None or not text.strip():
        return None
    return text.strip()[:MAX_NOTE_CHARS]
