from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cxpulse.api.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [None, None, None]
    assert limiter.check("a") == 1  # half a second to the next token: Retry-After 1
    assert limiter.check("b") is None  # callers have buckets of their own
    clock.now += 0.5
    assert limiter.check("a") is None
    assert limiter.check("a") == 1
    clock.now += 100
    assert [limiter.check("a") for _ in range(4)] == [None, None, None, 1]


def test_slow_rate_says_how_long() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=0.1, burst=1, clock=clock)
    assert limiter.check("a") is None
    assert limiter.check("a") == 10


@given(st.lists(st.floats(min_value=0, max_value=2), max_size=200))
def test_never_more_than_burst_plus_rate_times_elapsed(gaps: list[float]) -> None:
    clock = Clock()
    limiter = RateLimiter(rate=5.0, burst=4, clock=clock)
    allowed, start = 0, clock.now
    for gap in gaps:
        clock.now += gap
        if limiter.check("k") is None:
            allowed += 1
    assert allowed <= 4 + 5.0 * (clock.now - start) + 1e-6
