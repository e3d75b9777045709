"""How long to wait before retrying a send: exponential backoff with full jitter.

attempt 1 waits up to 1 s, attempt 2 up to 2 s, ... capped at 60 s; the wait is drawn uniformly
below that ceiling (full jitter: many tabs or visitors retrying after one collector outage spread out
instead of returning together). A Retry-After from the collector is a floor, capped at 5 minutes.
"""

BASE_MS = 1000
CAP_MS = 60000
FLOOR_MS = 100
RETRY_AFTER_CAP_MS = 300000


def ceiling(attempt: "int") -> "int":
    """The longest wait before retry number `attempt` (1-based)."""
    if attempt > 16:
        return CAP_MS
    return min(CAP_MS, BASE_MS * (1 << (attempt - 1)))


def delay(attempt: "int", unit: "float", retry_after_s: "float | None" = None) -> "int":
    """The wait in ms; `unit` is a random number in [0, 1)."""
    d = max(FLOOR_MS, int(unit * ceiling(attempt)))
    if retry_after_s is not None and retry_after_s >= 0:
        d = max(d, min(RETRY_AFTER_CAP_MS, int(retry_after_s * 1000)))
    return d


def unit_from(random_bytes: "bytes") -> "float":
    """A number in [0, 1) from 4 random bytes given by the platform."""
    b = random_bytes
    return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) / 4294967296.0


def retryable(status: "int") -> "bool":
    """Network errors, timeouts, rate limits and server errors are retried; other 4xx are not."""
    return status == 0 or status in (408, 429) or (status >= 500 and status not in (501, 505))
