"""Internal topics carry one record per destination and batch, not one per item.

faust spends more moving a record (produce, fetch, hand-off to the agent, offset
bookkeeping) than cxpulse spends scoring it, and every input event used to cross the
internal topics about twice: once on the events topic and, as summaries, once per entity
it concerns.  A batch therefore sends each internal destination one *bundle*: a JSON array
of its items in the order they were made.  Both internal topics get one bundle per
partition: the customers of a partition share its scorer, and so do the agents, queues
and other entities of a summaries partition (``routes.py``).

Bundles never mix input partitions: under exactly-once a record belongs to the
transaction of the input it came from, so each bundle keeps the origin of its items.
Nothing here imports faust or Kafka.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from cxpulse.schemas.events import Event, parse_event

#: A bundle is closed once its items reach this size; an item larger than it travels
#: alone.  Well below Kafka's default 1 MB record limit.
BUNDLE_MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class Bundle:
    """One record to send: ``origin`` is the input message whose transaction it joins."""

    origin: Any
    key: bytes | None
    partition: int | None
    value: bytes
    headers: dict[str, bytes] | None
    #: The oldest Kafka timestamp of the inputs behind the items (None if none had one).
    timestamp: float | None


@dataclass
class _Open:
    origin: Any
    key: bytes | None
    partition: int | None
    headers: dict[str, bytes] | None
    items: list[bytes] = field(default_factory=list)
    size: int = 0
    timestamp: float | None = None
    #: The latest event time of the items (None: not given).
    latest_us: int | None = None


class Outbox:
    """A batch's items for the internal topics, grouped into bundles.

    Items of one group stay in the order they were added; groups come out in the order
    they were first used.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self._max_bytes = BUNDLE_MAX_BYTES if max_bytes is None else max_bytes
        self._open: dict[Hashable, _Open] = {}
        self._closed: list[_Open] = []

    def add(
        self,
        item: bytes,
        *,
        origin: Any,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp: float | None = None,
        headers: dict[str, bytes] | None = None,
        at_us: int | None = None,
    ) -> None:
        """Add ``item``, made from input message ``origin``, to the bundle for (``key``,
        ``partition``) of ``origin``'s topic partition.

        Items of different input partitions never share a bundle: the partition names the
        transaction.  ``headers`` must be the same for every item of a group; the first
        item's are kept.
        """
        group = (origin.topic, origin.partition, key, partition)
        bundle = self._open.get(group)
        if bundle is not None and bundle.size + len(item) > self._max_bytes:
            self._closed.append(bundle)
            bundle = None
        if bundle is None:
            bundle = self._open[group] = _Open(origin, key, partition, headers)
        bundle.items.append(item)
        bundle.size += len(item)
        if at_us is not None and (bundle.latest_us is None or at_us > bundle.latest_us):
            bundle.latest_us = at_us
        if timestamp is not None and (bundle.timestamp is None or timestamp < bundle.timestamp):
            bundle.timestamp = timestamp

    def stamp(
        self,
        origin: Any,
        headers_for: Callable[[int], dict[str, bytes]],
        high_us: int,
        empty_to: Iterable[int] = (),
    ) -> None:
        """Stamp the bundles made from ``origin``'s topic partition with the headers of how
        far their source has come, ``headers_for(time)``, and open an empty one for each
        partition of ``empty_to`` that has none: a record that carries only its headers
        (the lane's progress, ``publish.py``).

        A bundle still open is the last of this batch to its partition: it gets
        ``high_us``.  One closed early (it reached the size limit) is followed by others to
        the same partition, whose items may be as old as its own latest: it gets no more
        than that, or a partition would close a window those items still belong to.
        """
        source = (origin.topic, origin.partition)
        for bundle in self._closed:
            if (bundle.origin.topic, bundle.origin.partition) == source:
                latest = high_us if bundle.latest_us is None else min(bundle.latest_us, high_us)
                bundle.headers = headers_for(latest)
        for bundle in self._open.values():
            if (bundle.origin.topic, bundle.origin.partition) == source:
                bundle.headers = headers_for(high_us)
        for partition in empty_to:
            group = (*source, None, partition)
            if group not in self._open:
                self._open[group] = _Open(origin, None, partition, headers_for(high_us))

    def drain(self) -> Iterator[Bundle]:
        """The bundles, each once; the outbox is empty afterwards."""
        closed, self._closed = self._closed + list(self._open.values()), []
        self._open = {}
        for bundle in closed:
            yield Bundle(
                origin=bundle.origin,
                key=bundle.key,
                partition=bundle.partition,
                value=b"[" + b",".join(bundle.items) + b"]",
                headers=bundle.headers,
                timestamp=bundle.timestamp,
            )


def is_bundle(raw: bytes) -> bool:
    """Records written before bundling hold a single JSON object."""
    return raw.lstrip()[:1] == b"["


def forwarded_event(event_json: bytes, received_at: float | None) -> bytes:
    """An events-bundle item: a validated event and its input record's Kafka timestamp.

    ``event_json`` must be one JSON document (ingest forwards the bytes it validated).
    """
    received_ms = b"null" if received_at is None else str(round(received_at * 1000)).encode()
    return b'{"received_at_ms":' + received_ms + b',"event":' + event_json + b"}"


class ForwardedEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    received_at_ms: int | None
    event: Event

    @property
    def received_at(self) -> float | None:
        return None if self.received_at_ms is None else self.received_at_ms / 1000


FORWARDED_EVENTS: TypeAdapter[list[ForwardedEvent]] = TypeAdapter(list[ForwardedEvent])


def read_forwarded_events(raw: bytes, timestamp: float | None) -> list[ForwardedEvent]:
    """The events of an events-topic record; raises ``pydantic.ValidationError``.

    A record written before bundling is a single event, received at the record's
    ``timestamp``.
    """
    if is_bundle(raw):
        return FORWARDED_EVENTS.validate_json(raw)
    received_ms = None if timestamp is None else round(timestamp * 1000)
    return [ForwardedEvent(received_at_ms=received_ms, event=parse_event(raw))]


#: An events-topic record and what it held: its events, or why they could not be read.
ReadRecord = tuple[Any, list[ForwardedEvent] | ValidationError]


def forwarded_in_chunks(records: Iterable[Any], max_customers: int) -> Iterator[list[ReadRecord]]:
    """The events of ``records`` (faust events of the events topic), in chunks of about
    ``max_customers`` customers.

    A stream batch counts records, and one record may be a bundle of hundreds of events:
    a scorer that had fallen behind took a thousand bundles at once and held the states,
    events and outputs of tens of thousands of customers until the batch ended.  Records
    are read one at a time and a chunk ends with the record that brings it to
    ``max_customers`` distinct customers or more, so a bundle is never split.  Chunks
    count customers, not events, because a batch reads and writes each customer's state
    once: a few busy customers keep that saving over a whole batch, however many events
    they send.  A record that cannot be read comes with its ``ValidationError``.
    """
    chunk: list[ReadRecord] = []
    customers: set[str] = set()
    for record in records:
        message = record.message
        try:
            forwarded = read_forwarded_events(message.value, message.timestamp)
        except ValidationError as exc:
            chunk.append((record, exc))
        else:
            chunk.append((record, forwarded))
            customers.update(item.event.customer_id for item in forwarded)
        if len(customers) >= max_customers:
            yield chunk
            chunk, customers = [], set()
    if chunk:
        yield chunk
