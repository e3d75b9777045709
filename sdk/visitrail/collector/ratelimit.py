"""A token bucket per write key: `rate` events per second on average, bursts of up to `burst`.

A request costs one token per message it carries (one for an empty batch), so a batch of 2,500
counts as 2,500 single calls. A request that does not fit is refused whole with 429 and a
Retry-After saying when it will fit; Segment's clients and our SDK wait that long and retry. A
request bigger than the whole bucket is let through once the bucket is full, and leaves it in
debt: the requests after it wait until the average rate is kept again (otherwise a burst below
2,500 would let every 2,500-event batch through at the price of `burst`).
The same limiter, keyed by client address, bounds the requests themselves (tracking.py), valid or
not, known key or not, before a body is read.
Buckets live in the process: several collector processes each allow `rate`, which is fine for a
limit meant to stop a runaway client, not to meter usage.
"""

from __future__ import annotations

import math
import time
import typing

from .errors import ApiError

__all__ = ["RateLimiter"]

# Write keys are configured, so this bounds the buckets of client addresses: the least recently
# used goes first, so a client with many addresses only ever resets its own.
MAX_BUCKETS = 10_000


class Bucket:
    def __init__(self, burst: float, now: float) -> None:
        self.tokens = burst
        self.updated = now


class RateLimiter:
    def __init__(
        self,
        rate: float,
        burst: int,
        clock: typing.Callable[[], float] = time.monotonic,
        what: str = "events for this write key",
    ) -> None:
        self.what = what
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.buckets: dict[str, Bucket] = {}

    def check(self, key: str) -> None:
        """Raise 429 unless `key`'s bucket holds a token; spends none (logins.py spends on failure)."""
        if self.rate > 0 and self._bucket(key).tokens < 1:
            raise self._refusal(1 - self.buckets[key].tokens)

    def take(self, key: str, cost: int) -> None:
        """Spend `cost` tokens of `key`'s bucket, or raise 429 without spending any."""
        if self.rate <= 0:
            return
        bucket = self._bucket(key)
        # A request bigger than the bucket could never fit; it waits for a full bucket instead.
        needed = min(float(max(cost, 1)), self.burst)
        if bucket.tokens >= needed:
            bucket.tokens -= float(max(cost, 1))  # all of it: a debt past an empty bucket
            return
        raise self._refusal(needed - bucket.tokens)

    def _bucket(self, key: str) -> Bucket:
        now = self.clock()
        bucket = self.buckets.pop(key, None)
        if bucket is None:
            if len(self.buckets) >= MAX_BUCKETS:
                del self.buckets[next(iter(self.buckets))]
            bucket = Bucket(self.burst, now)
        self.buckets[key] = bucket  # last: the most recently used
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        return bucket

    def _refusal(self, missing: float) -> ApiError:
        wait = max(1, math.ceil(missing / self.rate))
        return ApiError(
            429,
            "rate_limited",
            f"too many {self.what} (limit: {self.rate:g} per second, bursts of {self.burst:g}); retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
