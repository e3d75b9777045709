"""The statistics every benchmark reports, one copy of each: a median with its spread, paired
differences, a bootstrap interval of a median, percentiles."""

import math
import random
import statistics


def spread(values):
    """Median, min, max and count of the values that were measured (None: not measured), or None
    when none was."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def differences(values, baseline):
    """Each value minus the baseline's of the same round (None where either was not measured): the
    rounds ran back to back, so what drifts on the machine cancels."""
    return [None if a is None or b is None else a - b for a, b in zip(values, baseline, strict=True)]


def bootstrap_median(values, rounds=2000, seed=1):
    """The median and a 95% bootstrap interval of it. Seeded: the same values give the same interval."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(rounds))
    return {
        "median": statistics.median(values),
        "low": medians[int(0.025 * rounds)],
        "high": medians[int(0.975 * rounds)],
        "n": len(values),
    }


def percentile(values, p):
    """Nearest rank: a value that was measured, not one between two."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
