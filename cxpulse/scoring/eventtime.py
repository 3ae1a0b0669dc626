"""Event time as integer microseconds since the Unix epoch: exact, compact, and comparable.

Integers keep every comparison and window boundary exact, and they round-trip through JSON
state unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    return (moment - EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def hours_between(earlier_us: int, later_us: int) -> float:
    return (later_us - earlier_us) / 3_600_000_000
