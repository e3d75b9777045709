"""bench.ingest's events: every batch as the bytes the clients post and as the rows the raw insert
writes, built before any clock starts. Seeded: the same sizes give the same events on every run
and backend (only the timestamps move with the clock: an hour of traffic ending now).

Mostly track, some page and identify; --events/20 anonymous IDs, about a quarter of which sign in
as one of fewer user IDs, so profiles get linked and merged.
"""

import datetime
import json
import random
import time
import uuid

from visitrail.collector.body import MAX_BODY_BYTES
from visitrail.collector.timestamps import format_timestamp

SEED = 20261125
TRACKS = [
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
    "Signed Up",
    "Search Performed",
    "Video Played",
    "Article Read",
    "Button Clicked",
    "Form Submitted",
]
PAGES = [
    ("/", "Home"),
    ("/pricing", "Pricing"),
    ("/docs", "Docs"),
    ("/blog/launch", "Launch"),
    ("/products/42", "Blue kettle"),
    ("/cart", "Cart"),
    ("/account", "Account"),
]
PLANS = ["free", "pro", "team", "enterprise"]
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
COMPACT = (",", ":")


def iso(t):
    """Epoch seconds as the SDK and the collector write timestamps."""
    return format_timestamp(datetime.datetime.fromtimestamp(t, datetime.UTC))


def _uuid4(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Workload:
    def __init__(self, events, batch):
        rng = self.rng = random.Random(SEED)
        self.visitors = [_uuid4(rng) for _ in range(max(1, events // 20))]
        # Fewer users than signed-in visitors: a user met again on a second device links (and, when
        # that device browsed anonymously first, merges) two profiles.
        users = [f"user-{n:06d}" for n in range(max(1, round(len(self.visitors) * 0.25 / 1.25)))]
        self.user_of = {v: rng.choice(users) for v in self.visitors if rng.random() < 0.25}
        self.sign_in_at = {v: rng.randint(0, 12) for v in self.user_of}
        self.seen = {}  # messages so far, by visitor
        self.bodies, self.rows, self.kinds = [], [], {}
        self.users_seen = set()
        start = time.time() - 3600  # an hour of traffic, oldest first
        step = 3600 / max(events, 1)
        message_bytes = 0
        for first in range(0, events, batch):
            messages = [self._message(start + i * step) for i in range(first, min(first + batch, events))]
            body = json.dumps({"batch": messages, "sentAt": iso(start + first * step + 60)}, separators=COMPACT)
            body = body.encode()
            if len(body) > MAX_BODY_BYTES:
                raise SystemExit(
                    f"a batch of {batch} messages is {len(body):,} bytes, over the collector's "
                    f"{MAX_BODY_BYTES:,}; use a smaller --batch"
                )
            message_bytes += len(body)
            self.bodies.append(body)
            self.rows.append([_row(m) for m in messages])
        self.events = events
        self.visitors_seen = list(self.seen)
        self.message_bytes = message_bytes / max(events, 1)

    def _message(self, at):
        """One visitor's next message; before its sign-in anonymous, then with its userId."""
        rng = self.rng
        visitor = rng.choice(self.visitors)
        count = self.seen[visitor] = self.seen.get(visitor, -1) + 1
        user = self.user_of.get(visitor) if count >= self.sign_in_at.get(visitor, 1 << 30) else None
        path, title = rng.choice(PAGES)
        roll = rng.random()
        if user and count == self.sign_in_at[visitor]:
            kind = "identify"  # the sign-in: links the visitor to its user
        else:
            kind = "track" if roll < 0.80 else "page" if roll < 0.93 else "identify"
        message = {
            "type": kind,
            "messageId": _uuid4(rng),
            "anonymousId": visitor,
            "timestamp": iso(at),
            "context": _context(visitor, path, title, count),
        }
        if user:
            message["userId"] = user
            self.users_seen.add(user)
        message.update(self._payload(kind, path, title, count, user))
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        return message

    def _payload(self, kind, path, title, count, user):
        rng = self.rng
        if kind == "track":
            event = rng.choice(TRACKS)
            properties = {"value": rng.randint(1, 500), "currency": "EUR", "sku": f"SKU-{rng.randint(1, 999):03d}"}
            return {"event": event, "properties": properties}
        if kind == "page":
            return {"name": title, "properties": {"path": path, "title": title}}
        traits = {"plan": rng.choice(PLANS), "visits": count + 1}
        if user:
            traits.update(email=f"{user}@example.com", name=user.replace("-", " ").title())
        return {"traits": traits}

    def lookup_ids(self, count):
        """Half by userId (profiles that signed in, often merged), half by anonymousId, shuffled."""
        rng = random.Random(SEED + 1)
        users = [("userId", u) for u in sorted(self.users_seen)]
        visitors = [("anonymousId", v) for v in self.visitors_seen]
        by_user = count // 2 if users else 0

        def pick(pool, k):
            return rng.sample(pool, k) if k <= len(pool) else rng.choices(pool, k=k)

        ids = pick(users, by_user) + pick(visitors, count - by_user)
        rng.shuffle(ids)
        return ids


def _context(visitor, path, title, count):
    return {
        "library": {"name": "visitrail", "version": "0.1.0"},
        "page": {
            "path": path,
            "title": title,
            "url": "https://shop.example.com" + path,
            "referrer": "https://www.example.org/",
        },
        "userAgent": USER_AGENT,
        "locale": "en-GB",
        "sessionId": f"{visitor[:8]}-{count // 15}",
    }


def _row(m):
    """A message as the raw table's row."""
    body = json.dumps(m, separators=COMPACT)
    return (m["messageId"], m["type"], m["anonymousId"], m.get("userId"), m["timestamp"], body)
