"""A token bucket per write key: `rate` events per second on average, bursts of up to `burst`.

A request costs one token per message it carries (one for an empty batch), so a batch of 2,500
counts as 2,500 single calls. A request that does not fit is refused whole with 429 and a
Retry-After saying when it will fit; Segment's clients and our SDK wait that long and retry.
Buckets live in the process: several collector processes each allow `rate`, which is fine for a
limit meant to stop a runaway client, not to meter usage.
"""

from __future__ import annotations

import math
import time
import typing

from .errors import ApiError

__all__ = ["RateLimiter"]

MAX_BUCKETS = 10_000  # write keys are configured, so this is never reached; a bound all the same


class Bucket:
    def __init__(self, burst: float, now: float) -> None:
        self.tokens = burst
        self.updated = now


class RateLimiter:
    def __init__(self, rate: float, burst: int, clock: typing.Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.buckets: dict[str, Bucket] = {}

    def take(self, key: str, cost: int) -> None:
        """Spend `cost` tokens of `key`'s bucket, or raise 429 without spending any."""
        if self.rate <= 0:
            return
        now = self.clock()
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= MAX_BUCKETS:
                self.buckets.clear()
            bucket = self.buckets[key] = Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        # A request bigger than the bucket could never fit; it waits for a full bucket instead.
        needed = min(float(max(cost, 1)), self.burst)
        if bucket.tokens >= needed:
            bucket.tokens -= needed
            return
        wait = max(1, math.ceil((needed - bucket.tokens) / self.rate))
        raise ApiError(
            429,
            "rate_limited",
            f"too many events for this write key (limit: {self.rate:g} per second, bursts of {self.burst:g}); "
            f"retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
