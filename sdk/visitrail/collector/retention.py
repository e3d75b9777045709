"""Retention (`--retain-days N`): events received more than N days ago are deleted, at start and
then every hour, by every process (the deletes are idempotent and bounded: PostgreSQL drops whole
day partitions, SQLite deletes in chunks, each its own transaction). Profiles keep what they
learnt (IDs, traits, counts); their sessions and timelines lose the deleted events."""

from __future__ import annotations

import asyncio
import datetime
import logging
import typing

from .storage import Storage

__all__ = ["cutoff_day", "run_retention", "EVERY_SECONDS"]

EVERY_SECONDS = 3600.0
log = logging.getLogger("visitrail.retention")


def cutoff_day(now: datetime.datetime, retain_days: int) -> str:
    """The first day kept: today and the N - 1 days before it (received_at's UTC days)."""
    return (now - datetime.timedelta(days=retain_days - 1)).strftime("%Y-%m-%d")


async def run_retention(
    storage: Storage, retain_days: int, clock: typing.Callable[[], datetime.datetime], every: float = EVERY_SECONDS
) -> None:
    """Forever: expire, then wait `every` seconds. A failure is logged and tried again next time."""
    while True:
        try:
            await storage.expire(cutoff_day(clock(), retain_days))
        except Exception:  # a database restarting must not end retention for good
            log.exception("retention failed; trying again in %.0f s", every)
        await asyncio.sleep(every)
