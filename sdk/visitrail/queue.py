"""Delivery that loses nothing: a persisted queue, batches, retries, and beacons on page hide.

Every event is written to localStorage (`visitrail_queue`) before it is sent and removed only when
the collector acknowledges it, so a reload, a crash or a closed tab loses nothing: the next page
load sends what was left. The collector deduplicates by messageId, which makes every resend free.

Only one tab sends at a time: the sender holds a lease (`visitrail_lease`: owner tab and expiry)
while it has requests in flight, and tabs without it leave the shared queue to the holder. A tab
whose lease expired (closed, frozen) is replaced by the next tab that wants to send.

Outcomes (backoff.py): 2xx removes the batch; a network error, 408, 429 and 5xx retry with
backoff; 400/413 on a batch splits it in halves so one bad message cannot hold back the valid ones;
any other 4xx (or 400 on a single message) drops with one console error.
"""

import json

from . import backoff
from .ids import iso_utc, uuid4

QUEUE_KEY = "visitrail_queue"
LEASE_KEY = "visitrail_lease"
MAX_EVENT_BYTES = 32 * 1024      # the collector's per-message limit
MAX_BATCH_BYTES = 480 * 1000     # under the collector's 500 KB per request
MAX_BATCH_EVENTS = 500
MAX_BEACON_BYTES = 60 * 1000     # browsers refuse keepalive bodies beyond 64 KB in flight
MAX_QUEUED = 1000                # events kept while the collector is unreachable; oldest go first
LEASE_MS = 10000
FLUSH_GIVE_UP_ATTEMPTS = 8       # a flush() promise settles after this many failed tries


class Delivery:
    def __init__(self, platform, endpoint, write_key, store, log, flush_at=20, flush_interval_ms=1000):
        self.platform = platform
        self.url = endpoint.rstrip("/") + "/v1/batch"
        self.write_key = write_key
        self.store = store            # a Store, or None to keep the queue in memory only
        self.memory = []
        self.log = log
        self.flush_at = max(1, flush_at)
        self.flush_interval_ms = max(0, flush_interval_ms)
        self.tab = uuid4(platform.random_bytes(16))
        self.timer = None
        self.timer_due = None
        self.in_flight = None         # the messageIds of the request under way
        self.attempt = 0
        self.batch_limit = MAX_BATCH_EVENTS
        self.waiters = []             # [pending messageIds, on_done, failures]
        self.debug = False
        self._warned = {}

    # The persisted queue ------------------------------------------------------------------

    def _load(self):
        if self.store is None:
            return list(self.memory)
        try:
            raw = self.store.get(QUEUE_KEY)
            items = json.loads(raw) if raw else []
            if isinstance(items, list):
                return [m for m in items if isinstance(m, dict) and isinstance(m.get("messageId"), str)]
        except Exception as e:
            self._warn_once("read", "the persisted queue could not be read (" + str(e)[:80] + "); it was reset")
        return []

    def _save(self, items):
        if self.store is not None:
            while True:
                try:
                    if items:
                        self.store.set(QUEUE_KEY, json.dumps(items))
                    else:
                        self.store.remove(QUEUE_KEY)
                    return items
                except Exception as e:
                    if len(items) <= 1:
                        self._warn_once("memory", "localStorage refused the queue (" + str(e)[:80]
                                        + "); events are kept in memory for this page")
                        self.store = None
                        break
                    # Quota: give up the oldest tenth rather than the whole queue.
                    drop = max(1, len(items) // 10)
                    self._warn_once("quota", "storage is full: the oldest queued events are being dropped")
                    items = items[drop:]
        self.memory = list(items)
        return items

    def pending(self):
        return self._load()

    # Putting events in --------------------------------------------------------------------

    def push(self, msg):
        """Queue one message. False (and one console error) when it is too large to ever send."""
        size = len(json.dumps(msg))
        if size > MAX_EVENT_BYTES:
            self.log("error", msg.get("type", "event") + " dropped: " + str(size)
                     + " bytes is over the 32 KB limit for one event")
            return False
        items = self._load()
        items.append(msg)
        if len(items) > MAX_QUEUED:
            self._warn_once("full", "the event queue is full (" + str(MAX_QUEUED)
                            + " events): the oldest are being dropped")
            items = items[len(items) - MAX_QUEUED:]
        self._save(items)
        if self.debug:
            self.log("debug", "queued " + json.dumps(msg))
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

    def _lease(self):
        """Take or renew the sending lease; False while another live tab holds it."""
        if self.store is None:
            return True
        now = self.platform.now_ms()
        try:
            raw = self.store.get(LEASE_KEY)
            lease = json.loads(raw) if raw else None
            if isinstance(lease, dict) and lease.get("owner") != self.tab and lease.get("until", 0) > now:
                return False
            self.store.set(LEASE_KEY, json.dumps({"owner": self.tab, "until": now + LEASE_MS}))
            # Two tabs may have written in the same instant: the one whose write stuck sends.
            lease = json.loads(self.store.get(LEASE_KEY) or "{}")
            return lease.get("owner") == self.tab
        except Exception:
            return True

    def _lease_wait(self):
        try:
            lease = json.loads(self.store.get(LEASE_KEY) or "{}")
            return max(50, lease.get("until", 0) - self.platform.now_ms() + 10)
        except Exception:
            return 1000

    def _release(self):
        if self.store is None:
            return
        try:
            lease = json.loads(self.store.get(LEASE_KEY) or "{}")
            if lease.get("owner") == self.tab:
                self.store.remove(LEASE_KEY)
        except Exception:
            pass

    def _send_next(self):
        if self.in_flight is not None:
            return
        items = self._load()
        self._settle_waiters(items)
        if not items:
            self._release()
            return
        if not self.platform.is_online():
            return  # the "online" listener flushes when the browser is back
        if not self._lease():
            self._schedule(self._lease_wait())
            return
        batch, size = [], 0
        for m in items:
            s = len(json.dumps(m)) + 1
            if batch and (size + s > MAX_BATCH_BYTES or len(batch) >= self.batch_limit):
                break
            batch.append(m)
            size += s
        self.in_flight = [m["messageId"] for m in batch]
        body = json.dumps({"batch": batch, "writeKey": self.write_key, "sentAt": iso_utc(self.platform.now_ms())})
        sent = self.in_flight

        def done(status, retry_after_s=None):
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

    def on_hide(self):
        """Hand what is queued to the browser's beacon; it stays queued until acknowledged."""
        items = self._load()
        chunk, size = [], 0
        for m in items:
            s = len(json.dumps(m)) + 1
            if chunk and size + s > MAX_BEACON_BYTES:
                if not self._beacon(chunk):
                    return
                chunk, size = [], 0
            chunk.append(m)
            size += s
        if chunk:
            self._beacon(chunk)

    def _beacon(self, batch):
        body = json.dumps({"batch": batch, "writeKey": self.write_key, "sentAt": iso_utc(self.platform.now_ms())})
        ok = self.platform.beacon(self.url, body)
        if self.debug:
            self.log("debug", "beacon of " + str(len(batch)) + " events: " + ("queued" if ok else "refused"))
        return ok

    def _warn_once(self, key, message):
        if key not in self._warned:
            self._warned[key] = True
            self.log("warn", message)
