from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cxpulse.schemas.events import event_to_json, parse_event
from cxpulse.scoring.summary import InteractionSummary
from cxpulse.worker.bundles import (
    Outbox,
    ReadRecord,
    forwarded_event,
    forwarded_in_chunks,
    is_bundle,
    read_forwarded_events,
)
from tests.unit.scoring.make import Events


def origin(partition: int) -> SimpleNamespace:
    return SimpleNamespace(topic="in", partition=partition)


def item(n: int) -> bytes:
    return orjson.dumps({"n": n})


def test_items_of_one_destination_and_input_partition_share_one_bundle() -> None:
    outbox = Outbox()
    first, second = origin(0), origin(1)
    outbox.add(item(1), origin=first, partition=2, timestamp=5.0)
    outbox.add(item(2), origin=second, partition=2, timestamp=1.0)
    outbox.add(item(3), origin=first, partition=2, timestamp=3.0)
    outbox.add(item(4), origin=first, partition=3)

    bundles = list(outbox.drain())

    assert [(b.origin, b.partition, orjson.loads(b.value)) for b in bundles] == [
        (first, 2, [{"n": 1}, {"n": 3}]),
        (second, 2, [{"n": 2}]),
        (first, 3, [{"n": 4}]),
    ]
    assert [b.timestamp for b in bundles] == [3.0, 1.0, None]
    assert list(outbox.drain()) == []


def test_keys_and_headers_travel_with_their_bundle() -> None:
    outbox = Outbox()
    headers = {"cxpulse-lane": b"1"}
    outbox.add(item(1), origin=origin(1), key=b"agent:a1", headers=headers)
    outbox.add(item(2), origin=origin(1), key=b"queue:q1", headers=headers)

    bundles = list(outbox.drain())

    assert [(b.key, b.headers, b.partition) for b in bundles] == [
        (b"agent:a1", headers, None),
        (b"queue:q1", headers, None),
    ]


def test_a_full_bundle_is_closed_and_an_oversized_item_travels_alone() -> None:
    outbox = Outbox(max_bytes=20)
    small, big = b'"' + b"x" * 6 + b'"', b'"' + b"y" * 40 + b'"'
    for value in (small, small, small, big, small):
        outbox.add(value, origin=origin(0), partition=0)

    values = [orjson.loads(bundle.value) for bundle in outbox.drain()]

    assert values == [["x" * 6, "x" * 6], ["x" * 6], ["y" * 40], ["x" * 6]]


def high(at: int) -> dict[str, bytes]:
    return {"high": str(at).encode()}


def test_a_stamp_gives_a_bundle_closed_early_no_more_than_its_own_latest_time() -> None:
    """Several records of one batch to one partition: the first must not say its source has
    come as far as the batch, or the partition would close a window the later records still
    fill (``scorer.LaneProgress``)."""
    outbox = Outbox(max_bytes=20)
    lane, other = origin(0), origin(1)
    for at in (100, 200, 300, 400):
        outbox.add(b'"' + b"x" * 6 + b'"', origin=lane, partition=5, at_us=at)
    outbox.add(item(9), origin=other, partition=5, at_us=50, headers={"mine": b"1"})
    outbox.stamp(lane, high, 900, empty_to=[5, 6])

    stamped = [(b.origin.partition, b.partition, b.headers) for b in outbox.drain()]

    assert stamped == [
        (0, 5, high(200)),  # closed at the size limit: its own latest time
        (0, 5, high(900)),  # the last to partition 5 of this batch: the batch's high
        (1, 5, {"mine": b"1"}),  # another source's bundle keeps its headers
        (0, 6, high(900)),  # no items for 6: an empty record with the headers
    ]


groups = st.tuples(st.integers(0, 2), st.integers(0, 3))


@given(st.lists(st.tuples(groups, st.integers(0, 10_000)), max_size=60), st.integers(8, 64))
def test_bundles_keep_every_item_once_in_order_within_their_cap(
    adds: list[tuple[tuple[int, int], int]], max_bytes: int
) -> None:
    outbox = Outbox(max_bytes=max_bytes)
    expected: defaultdict[tuple[int, int], list[int]] = defaultdict(list)
    for (source, destination), n in adds:
        outbox.add(item(n), origin=origin(source), partition=destination)
        expected[(source, destination)].append(n)

    seen: defaultdict[tuple[int, int | None], list[int]] = defaultdict(list)
    for bundle in outbox.drain():
        items = orjson.loads(bundle.value)
        assert items, "no empty bundle"
        assert len(items) == 1 or sum(len(item(x["n"])) for x in items) <= max_bytes
        seen[(bundle.origin.partition, bundle.partition)] += [x["n"] for x in items]

    assert seen == expected


def test_forwarded_events_read_back_with_their_receive_time() -> None:
    customer = Events("c-1")
    started, connected, ended = customer.contact("i1", at=0)
    pretty = b'\n  {"event_id": "p1", "type": "interaction.started",\n'
    pretty += b'   "occurred_at": "2025-03-03T09:00:00Z", "customer_id": "c-2",\n'
    pretty += b'   "interaction_id": "i2"}\n'
    outbox = Outbox()
    for value, received in [
        (event_to_json(started), 1_700_000_000.123),
        (event_to_json(ended), None),
        (pretty, 1_700_000_000.5),
    ]:
        outbox.add(forwarded_event(value, received), origin=origin(0))
    (bundle,) = outbox.drain()

    forwarded = read_forwarded_events(bundle.value, timestamp=9.0)

    assert [item.event for item in forwarded] == [started, ended, parse_event(pretty)]
    assert [item.received_at for item in forwarded] == [1_700_000_000.123, None, 1_700_000_000.5]
    assert connected not in [item.event for item in forwarded]


def test_a_record_from_before_bundling_is_one_event_received_at_its_timestamp() -> None:
    (event, *_) = Events("c-1").contact("i1", at=0)

    (forwarded,) = read_forwarded_events(event_to_json(event), timestamp=1_700_000_000.25)

    assert forwarded.event == event
    assert forwarded.received_at == 1_700_000_000.25


@pytest.mark.parametrize(
    "raw",
    [
        b'[{"received_at_ms": 1, "event": {"type": "no.such.type"}}]',
        b'[{"event": {}}]',
        b"[1, 2]",
        b'{"type": "interaction.started"}',
    ],
)
def test_unreadable_events_records_raise_validation_errors(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        read_forwarded_events(raw, timestamp=None)


@pytest.mark.parametrize(
    ("raw", "expected"), [(b"[]", True), (b"  \n[1]", True), (b'{"a": 1}', False)]
)
def test_bundles_are_told_from_single_records(raw: bytes, expected: bool) -> None:
    assert is_bundle(raw) is expected


def test_summaries_read_from_a_bundle_or_a_single_record() -> None:
    one = InteractionSummary(summary_id="s1", customer_id="c1", evidence=("e1", "e2"))
    two = InteractionSummary(summary_id="s2", customer_id="c2", agent_id="a1")
    bundle = b"[" + one.to_bytes() + b"," + two.to_bytes() + b"]"

    assert InteractionSummary.many_from_bytes(bundle) == [one, two]
    assert InteractionSummary.many_from_bytes(one.to_bytes()) == [one]


UNREADABLE = b'[{"event": {}}]'


def events_record(customers: str | None) -> SimpleNamespace:
    """A stand-in for a faust event of the events topic: a bundle of one event per letter
    of ``customers`` (the letter is the customer), or an unreadable record for ``None``."""
    if customers is None:
        value = UNREADABLE
    else:
        events = [Events(c).contact(f"i{n}", at=n)[0] for n, c in enumerate(customers)]
        items = [orjson.Fragment(forwarded_event(event_to_json(e), 1.0)) for e in events]
        value = orjson.dumps(items)
    return SimpleNamespace(message=SimpleNamespace(value=value, timestamp=1.0), customers=customers)


def customers_of(chunk: list[ReadRecord]) -> list[str | None]:
    return [record.customers for record, _ in chunk]


def distinct_customers(chunk: list[ReadRecord]) -> int:
    return len({c for record, _ in chunk for c in record.customers or ""})


@pytest.mark.parametrize(
    ("bundles", "max_customers", "chunks"),
    [
        (["ab", "a", "cd", "e"], 3, [["ab", "a", "cd"], ["e"]]),
        (["ab", "ba", "aaaa", "c"], 3, [["ab", "ba", "aaaa", "c"]]),
        (["abcdef", "g", "h"], 2, [["abcdef"], ["g", "h"]]),
        (["a", "b", "c"], 1, [["a"], ["b"], ["c"]]),
        (["ab", None, None, "c"], 3, [["ab", None, None, "c"]]),
        (["", ""], 1, [["", ""]]),
        ([], 10, []),
    ],
)
def test_a_batch_of_bundles_is_read_in_chunks_of_about_max_customers(
    bundles: list[str | None], max_customers: int, chunks: list[list[str | None]]
) -> None:
    read = list(forwarded_in_chunks([events_record(b) for b in bundles], max_customers))

    assert [customers_of(chunk) for chunk in read] == chunks


@given(
    bundles=st.lists(st.one_of(st.none(), st.text("abcdefgh", max_size=6)), max_size=12),
    max_customers=st.integers(1, 9),
)
def test_chunks_keep_every_record_in_order_and_end_at_the_first_record_past_the_limit(
    bundles: list[str | None], max_customers: int
) -> None:
    records = [events_record(b) for b in bundles]

    chunks = list(forwarded_in_chunks(records, max_customers))

    assert [record for chunk in chunks for record, _ in chunk] == records
    for chunk in chunks:
        assert chunk, "no empty chunk"
        assert distinct_customers(chunk[:-1]) < max_customers
    for chunk in chunks[:-1]:
        assert distinct_customers(chunk) >= max_customers
    for chunk in chunks:
        for record, read in chunk:
            if record.customers is None:
                assert isinstance(read, ValidationError)
            else:
                assert not isinstance(read, ValidationError)
                assert [item.event.customer_id for item in read] == list(record.customers)
