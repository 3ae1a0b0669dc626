"""Token buckets: each caller (an API key, a webhook source) may make ``burst`` requests at
once and ``rate`` per second on average; beyond that it is told when to come back."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take one token: 0.0 if there was one, else the seconds until there is."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class RateLimiter:
    """One bucket per caller, created full on its first request."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def check(self, caller: str) -> int | None:
        """None if ``caller`` may go on, else the whole seconds to wait (Retry-After)."""
        now = self.clock()
        bucket = self.buckets.get(caller)
        if bucket is None:
            bucket = self.buckets[caller] = TokenBucket(self.rate, self.burst, self.burst, now)
        wait = bucket.take(now)
        return None if wait == 0.0 else max(1, math.ceil(wait))
