"""Delivery that loses nothing: a persisted queue, batches, retries, and beacons on page hide.

Every event is written to localStorage before it is sent and removed only when the collector
acknowledges it, so a reload, a crash or a closed tab loses nothing: the next page load sends what
was left. The collector deduplicates by messageId, which makes every resend free.

Each tab owns its queue, under its own key `visitrail_queue_<tab>`: {"seen", "closed", "items"}.
One shared key would need a read-modify-write from every tab, and localStorage has no transaction:
two tabs appending at the same moment lose one of the two writes (measured: five tabs firing at once
lost three events). With one writer per key that cannot happen, and no event is sent by two tabs.
A queue changes hands only when its tab is gone: marked "closed" on pagehide, or silent for
ORPHAN_MS after a crash; the next tab to send adopts its events and removes the key.

Outcomes (backoff.py): 2xx removes the batch; a network error, 408, 429 and 5xx retry with
backoff; 400/413 on a batch splits it in halves so one bad message cannot hold back the valid ones;
any other 4xx (or 400 on a single message) drops with one console error.
"""

import json

from . import backoff
from .ids import iso_utc, uuid4
from .platform import QuotaError

QUEUE_PREFIX = "visitrail_queue_"
MAX_EVENT_BYTES = 32 * 1024      # the collector's per-message limit
MAX_BATCH_BYTES = 480 * 1000     # under the collector's 500 KB per request
MAX_BATCH_EVENTS = 500
MAX_BEACON_BYTES = 60 * 1000     # browsers refuse keepalive bodies beyond 64 KB in flight
MAX_QUEUED = 1000                # events kept while the collector is unreachable; oldest go first
ORPHAN_MS = 10 * 60000           # a queue nobody wrote for this long belonged to a crashed tab
FLUSH_GIVE_UP_ATTEMPTS = 8       # a flush() promise settles after this many failed tries


class Delivery:
    def __init__(self, platform, endpoint, write_key, store, health, flush_at=20, flush_interval_ms=1000):
        self.platform = platform
        self.url = endpoint.rstrip("/") + "/v1/batch"
        self.write_key = write_key
        self.store = store            # a Store, or None to keep the queue in memory only
        self.health = health
        self.memory = []
        self.log = health.log
        self.flush_at = max(1, flush_at)
        self.flush_interval_ms = max(0, flush_interval_ms)
        self.key = QUEUE_PREFIX + uuid4(platform.random_bytes(16))
        self.timer = None
        self.timer_due = None
        self.in_flight = None         # the messageIds of the request under way
        self.attempt = 0
        self.batch_limit = MAX_BATCH_EVENTS
        self.waiters = []             # [pending messageIds, on_done, failures]
        self.beaconed = {}            # messageIds already handed to a beacon on this page
        self.debug = False
        self._warned = {}
        # The last queue text read or written, its items and each item's JSON: a push then costs
        # one string comparison and one join, not a parse and a dump of the whole queue.
        self._raw = None
        self._items = []
        self._json = {}

    # The persisted queue ------------------------------------------------------------------

    def _persisted(self):
        return self.store is not None and self.health.usable(self.store)

    def _load(self):
        if not self._persisted():
            return list(self.memory)
        try:
            raw = self.store.get(self.key)
        except Exception as e:
            self.health.fail(self.store, "read", e)
            return list(self.memory)
        if raw == self._raw:
            return list(self._items)
        items = _items_of(raw)
        if items is None:
            self._warn_once("corrupt", "the persisted event queue was unreadable and has been reset")
            items = []
        self._raw, self._items = raw, items
        return list(items)

    def _size(self, m):
        t = self._json.get(m["messageId"])
        return (len(t) if t is not None else len(json.dumps(m))) + 1

    def _body(self, batch):
        """A /v1/batch body; the write key is in it because a beacon cannot set headers."""
        return ('{"batch": ' + self._text(batch, False) + ', "writeKey": ' + json.dumps(self.write_key)
                + ', "sentAt": ' + json.dumps(iso_utc(self.platform.now_ms())) + "}")

    def _text(self, items, prune=True):
        cache = {}
        parts = []
        for m in items:
            mid = m["messageId"]
            t = self._json.get(mid)
            if t is None:
                t = json.dumps(m)
            cache[mid] = t
            parts.append(t)
        if prune:
            self._json = cache
        return "[" + ",".join(parts) + "]"

    def _save(self, items, closed=False):
        while self._persisted():
            try:
                if items:
                    raw = ('{"seen": ' + str(self.platform.now_ms()) + ', "closed": ' + ("true" if closed else "false")
                           + ', "items": ' + self._text(items) + "}")
                    self.store.set(self.key, raw)
                else:
                    raw = None
                    self.store.remove(self.key)
                self._raw, self._items = raw, list(items)
                self.memory = []
                return items
            except QuotaError as e:
                if len(items) <= 1:
                    self.health.fail(self.store, "write", e)
                    break
                # Give up the oldest tenth rather than the whole queue.
                self._warn_once("quota", "storage is full: the oldest queued events are being dropped")
                items = items[max(1, len(items) // 10):]
            except Exception as e:
                self.health.fail(self.store, "write", e)
        self.memory = list(items)
        return items

    def pending(self):
        return self._load()

    # Putting events in --------------------------------------------------------------------

    def push(self, msg):
        """Queue one message. False (and one console error) when it is too large to ever send."""
        text = json.dumps(msg)
        size = len(text)
        if size > MAX_EVENT_BYTES:
            self.log("error", msg.get("type", "event") + " dropped: " + str(size)
                     + " bytes is over the 32 KB limit for one event")
            return False
        items = self._load()
        items.append(msg)
        self._json[msg["messageId"]] = text
        if len(items) > MAX_QUEUED:
            self._warn_once("full", "the event queue is full (" + str(MAX_QUEUED)
                            + " events): the oldest are being dropped")
            items = items[len(items) - MAX_QUEUED:]
        self._save(items)
        if self.debug:
            self.log("debug", "queued " + text)
        if len(items) >= self.flush_at:
            self._schedule(0)
        else:
            self._schedule(self.flush_interval_ms)
        return True

    def flush(self, on_done=None):
        """Send everything queued now; on_done(ok) once it is all acknowledged or given up."""
        if on_done is not None:
            ids = [m["messageId"] for m in self._load()]
            if not ids:
                on_done(True)
            else:
                self.waiters.append([ids, on_done, 0])
        self._schedule(0)

    # Sending ------------------------------------------------------------------------------

    def _schedule(self, ms):
        due = self.platform.now_ms() + ms
        if self.timer is not None:
            if self.timer_due is not None and self.timer_due <= due:
                return
            self.platform.clear_timeout(self.timer)
        self.timer_due = due
        self.timer = self.platform.set_timeout(self._fire, ms)

    def _fire(self):
        self.timer = None
        self.timer_due = None
        self._send_next()

    def on_storage(self, key, value):
        """Another tab wrote localStorage: if it left with events still queued (its record is
        marked closed on pagehide), take them over now rather than at the next page load."""
        if key and key.startswith(QUEUE_PREFIX) and key != self.key and value and '"closed": true' in value[:80]:
            self.adopt()

    def adopt(self):
        """Take over the queues of tabs that are gone (closed, or silent since a crash)."""
        if not self._persisted():
            return
        try:
            keys = self.store.keys()
        except Exception:
            return  # a store that cannot list its keys: each tab keeps to its own queue
        now = self.platform.now_ms()
        taken = []
        for key in keys:
            if not key.startswith(QUEUE_PREFIX) or key == self.key:
                continue
            try:
                raw = self.store.get(key)
                record = json.loads(raw) if raw else None
            except Exception:
                record = None
            if isinstance(record, dict) and not record.get("closed") and now - _int(record.get("seen")) < ORPHAN_MS:
                continue  # a live tab's queue
            taken.extend(_items_of(raw) or [])
            try:
                self.store.remove(key)
            except Exception:
                pass
        if taken:
            items = self._load()
            have = {}
            for m in items:
                have[m["messageId"]] = True
            # The adopted events are older than ours: they go first.
            merged = [m for m in taken if m["messageId"] not in have] + items
            self._save(merged[-MAX_QUEUED:])
            self._schedule(0)

    def _send_next(self):
        if self.in_flight is not None:
            return
        items = self._load()
        self._settle_waiters(items)
        if not items:
            return
        if not self.platform.is_online():
            return  # the "online" listener flushes when the browser is back
        batch, size = [], 0
        for m in items:
            s = self._size(m)
            if batch and (size + s > MAX_BATCH_BYTES or len(batch) >= self.batch_limit):
                break
            batch.append(m)
            size += s
        self.in_flight = [m["messageId"] for m in batch]
        body = self._body(batch)
        sent = self.in_flight

        def done(status, retry_after_s=None, text=None):
            self._report(status, text)
            self._on_response(sent, status, retry_after_s)

        self.platform.send(self.url, body, done)

    def _on_response(self, ids, status, retry_after_s):
        self.in_flight = None
        if self.debug:
            self.log("debug", "sent " + str(len(ids)) + " events: HTTP " + str(status))
        if 200 <= status < 300:
            self._forget(ids)
            self.attempt = 0
            self.batch_limit = MAX_BATCH_EVENTS
            self._send_next()
            return
        if backoff.retryable(status):
            self.attempt += 1
            self._count_failure()
            wait = backoff.delay(self.attempt, backoff.unit_from(self.platform.random_bytes(4)), retry_after_s)
            if self.debug:
                self.log("debug", "retry " + str(self.attempt) + " in " + str(wait) + " ms")
            self._schedule(wait)
            return
        if status in (400, 413) and len(ids) > 1:
            self.batch_limit = max(1, len(ids) // 2)
            self._send_next()
            return
        self.log("error", "the collector refused " + str(len(ids)) + " event(s) with HTTP " + str(status)
                 + "; they were dropped")
        self._forget(ids)
        self._send_next()

    def _report(self, status, text):
        """Say once what the collector refused and why: {"error"} on a 4xx, {"rejected": [...]}
        when it stored a batch but not every event of it, {"unverified": [...]} when it stored
        events whose identity token it would not accept (an expired one, say)."""
        if not text or status == 0 or status >= 500 or '"error' not in text and '"rejected"' not in text \
                and '"unverified"' not in text:
            return
        try:
            body = json.loads(text)
        except Exception:
            return
        reasons = []
        if isinstance(body, dict):
            if isinstance(body.get("error"), str):
                reasons.append(body["error"])
            for r in (body.get("rejected") or []) + (body.get("unverified") or []):
                if isinstance(r, dict) and isinstance(r.get("reason"), str):
                    reasons.append(r["reason"])
        for reason in reasons:
            self._warn_once("collector:" + reason, "the collector refused events: " + reason
                            + " (anonymous events are still sent)", "error")

    def _forget(self, ids):
        gone = {}
        for i in ids:
            gone[i] = True
        self._save([m for m in self._load() if m["messageId"] not in gone])

    def _count_failure(self):
        for w in self.waiters:
            w[2] += 1

    def _settle_waiters(self, items):
        if not self.waiters:
            return
        present = {}
        for m in items:
            present[m["messageId"]] = True
        keep = []
        for w in self.waiters:
            w[0] = [i for i in w[0] if i in present]
            if not w[0]:
                w[1](True)
            elif w[2] >= FLUSH_GIVE_UP_ATTEMPTS:
                w[1](False)
            else:
                keep.append(w)
        self.waiters = keep

    # The page going away ------------------------------------------------------------------

    def on_hide(self, final=False):
        """Hand what is queued to the browser's beacon; it stays queued until acknowledged.

        final: the page is being left (pagehide), so its queue is marked closed for the next tab.
        """
        items = self._load()
        if final and items:
            self._save(items, closed=True)
        items = [m for m in items if m["messageId"] not in self.beaconed]
        chunk, size = [], 0
        for m in items:
            s = self._size(m)
            if chunk and size + s > MAX_BEACON_BYTES:
                if not self._beacon(chunk):
                    return
                chunk, size = [], 0
            chunk.append(m)
            size += s
        if chunk:
            self._beacon(chunk)

    def _beacon(self, batch):
        ok = self.platform.beacon(self.url, self._body(batch))
        if ok:
            for m in batch:
                self.beaconed[m["messageId"]] = True
        if self.debug:
            self.log("debug", "beacon of " + str(len(batch)) + " events: " + ("queued" if ok else "refused"))
        return ok

    def _warn_once(self, key, message, level="warn"):
        if key not in self._warned:
            self._warned[key] = True
            self.log(level, message)


def _int(v):
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _items_of(raw):
    """The events in a stored queue record, or None when it is unreadable."""
    try:
        record = json.loads(raw) if raw else {"items": []}
        items = record.get("items") if isinstance(record, dict) else None
        if not isinstance(items, list):
            return None
        return [m for m in items if isinstance(m, dict) and isinstance(m.get("messageId"), str)]
    except Exception:
        return None
