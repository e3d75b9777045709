"""bench.ingest's big store: --lookup-events events (1,000,000 by default) written straight through
the collector's Storage (no HTTP: that is measured elsewhere), so that the read API's lookups can be
timed on a store of that size. Seeded; 50 events per anonymous ID on average, a quarter of the
visitors signed in."""

import asyncio
import json
import random
import time

from visitrail.collector.storage import Event, open_storage

from .workload import COMPACT, iso

BATCH = 2500


def events_for(total, seed=11):
    rng = random.Random(seed)
    visitors = [f"v{n:07d}" for n in range(max(1, total // 50))]
    users = {v: f"u{n:07d}" for n, v in enumerate(visitors) if rng.random() < 0.25}
    now = time.time() - 3600
    received = iso(time.time())
    for n in range(total):
        visitor = rng.choice(visitors)
        user = users.get(visitor) if rng.random() < 0.5 else None
        kind = "identify" if rng.random() < 0.02 else "track"
        message = {"type": kind, "messageId": f"f{n}", "anonymousId": visitor, "timestamp": iso(now + n / total * 3600),
                   "context": {"sessionId": f"{visitor}-{n % 7}"}}  # fmt: skip
        if user:
            message["userId"] = user
        if kind == "identify":
            message["traits"] = {"plan": rng.choice(["free", "pro"]), "n": n}
        else:
            message["event"] = "Viewed"
        yield Event(
            write_key="bench-key", message_id=message["messageId"], type=kind, anonymous_id=visitor, user_id=user,
            event=message.get("event"), timestamp=message["timestamp"], original_timestamp=message["timestamp"],
            sent_at=None, received_at=received, body=json.dumps(message, separators=COMPACT),
            session_id=message["context"]["sessionId"],
        )  # fmt: skip


def fill(db_url, total):
    """Store `total` events; (seconds it took, some IDs to look up)."""

    async def main():
        storage = open_storage(db_url)
        await storage.connect()
        ids, batch = [], []
        began = time.perf_counter()
        try:
            for event in events_for(total):
                batch.append(event)
                if len(batch) == BATCH:
                    await storage.add(batch)
                    ids.append(
                        ("userId", batch[0].user_id) if batch[0].user_id else ("anonymousId", batch[0].anonymous_id)
                    )
                    batch = []
            if batch:
                await storage.add(batch)
        finally:
            await storage.disconnect()
        return time.perf_counter() - began, ids

    return asyncio.run(main())
