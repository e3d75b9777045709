"""Delivery that loses nothing: batches, retries, flush promises, and beacons on page hide, over
the tab's persisted queue (outbox.py). The collector deduplicates by messageId, which makes every
resend free.

Sends go out as one `/v1/batch` when `flush_at` events are waiting or `flush_interval_ms` passed;
a request stays under MAX_BATCH_BYTES and MAX_BATCH_EVENTS.

Outcomes (backoff.py): 2xx removes the batch; a network error, 408, 429 and 5xx retry with
backoff; 400/413 on a batch splits it in halves so one bad message cannot hold back the valid ones;
any other 4xx (or 400 on a single message) drops with one console error. What the collector says
it refused, and why, is logged once per reason (refusals.py).
"""

import json

from . import backoff
from .ids import iso_utc
from .outbox import Outbox
from .refusals import reasons

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable

    from .platform import Platform, Store
    from .stores import Health

MAX_EVENT_BYTES = 32 * 1024  # the collector's per-message limit
MAX_BATCH_BYTES = 480 * 1000  # under the collector's 500 KB per request
MAX_BATCH_EVENTS = 500
MAX_BEACON_BYTES = 60 * 1000  # browsers refuse keepalive bodies beyond 64 KB in flight
FLUSH_GIVE_UP_ATTEMPTS = 8  # a flush() promise settles after this many failed tries


class Delivery:
    def __init__(
        self,
        platform: "Platform",
        endpoint: "str",
        write_key: "str",
        outbox_key: "str",
        store: "Store | None",
        health: "Health",
        flush_at: "int" = 20,
        flush_interval_ms: "int" = 1000,
    ) -> "None":
        self.platform = platform
        self.url = endpoint.rstrip("/") + "/v1/batch"
        self.credentialed = False  # the collector is of the site's own domain: see links.same_site
        # With credentialed sends: () -> a mark of the identity's state, and (mark) -> None once the
        # answer came, which may have re-set the cookies to what they were at the mark.
        self.identity_mark: "Callable[[], int] | None" = None
        self.after_refresh: "Callable[[int], None] | None" = None
        self.write_key = write_key
        self.log = health.log
        self._warned: "dict[str, bool]" = {}
        self.outbox = Outbox(outbox_key, store, health, platform.now_ms, self._warn_once)
        self.flush_at = max(1, flush_at)
        self.flush_interval_ms = max(0, flush_interval_ms)
        self.timer: "Any" = None  # the platform's timer handle
        self.timer_due: "int | None" = None
        self.in_flight: "list[str] | None" = None  # the messageIds of the request under way
        self.attempt = 0
        self.batch_limit = MAX_BATCH_EVENTS
        self.waiters: "list[list[Any]]" = []  # [pending messageIds, on_done, failures]
        self.beaconed: "dict[str, bool]" = {}  # messageIds already handed to a beacon on this page
        self.debug = False

    # Putting events in --------------------------------------------------------------------

    def push(self, msg: "dict[str, Any]") -> "bool":
        """Queue one message. False (and one console error) when it is too large to ever send."""
        text = json.dumps(msg)
        size = len(text)
        if size > MAX_EVENT_BYTES:
            self.log(
                "error",
                msg.get("type", "event") + " dropped: " + str(size) + " bytes is over the 32 KB limit for one event",
            )
            return False
        queued = self.outbox.append(msg, text)
        if self.debug:
            self.log("debug", "queued " + text)
        self._schedule(0 if queued >= self.flush_at else self.flush_interval_ms)
        return True

    def flush(self, on_done: "Callable[[bool], None] | None" = None) -> "None":
        """Send everything queued now; on_done(ok) once it is all acknowledged or given up."""
        if on_done is not None:
            ids = [m["messageId"] for m in self.outbox.items()]
            if not ids:
                on_done(True)
            else:
                self.waiters.append([ids, on_done, 0])
        self._schedule(0)

    def resume(self) -> "None":
        """At start (and on consent): adopt the queues of tabs that are gone, send what is left."""
        self.outbox.adopt()
        if self.outbox.items():
            self._schedule(0)

    def on_storage(self, key: "str | None", value: "str | None") -> "None":
        """Another tab wrote localStorage: if it left with events still queued (its record is
        marked closed on pagehide), take them over now rather than at the next page load."""
        if self.outbox.closed_elsewhere(key, value) and self.outbox.adopt():
            self._schedule(0)

    # Sending ------------------------------------------------------------------------------

    def _schedule(self, ms: "int") -> "None":
        due = self.platform.now_ms() + ms
        if self.timer is not None:
            if self.timer_due is not None and self.timer_due <= due:
                return
            self.platform.clear_timeout(self.timer)
        self.timer_due = due
        self.timer = self.platform.set_timeout(self._fire, ms)

    def _fire(self) -> "None":
        self.timer = None
        self.timer_due = None
        self._send_next()

    def _body(self, batch: "list[dict[str, Any]]") -> "str":
        """A /v1/batch body; the write key is in it because a beacon cannot set headers."""
        return (
            '{"batch": '
            + self.outbox.json_array(batch, False)
            + ', "writeKey": '
            + json.dumps(self.write_key)
            + ', "sentAt": '
            + json.dumps(iso_utc(self.platform.now_ms()))
            + "}"
        )

    def _size(self, m: "dict[str, Any]") -> "int":
        return len(self.outbox.text_of(m)) + 1

    def _send_next(self) -> "None":
        if self.in_flight is not None:
            return
        items = self.outbox.items()
        self._settle_waiters(items)
        if not items:
            return
        if not self.platform.is_online():
            return  # the "online" listener flushes when the browser is back
        batch: "list[dict[str, Any]]"
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

        mark = self.identity_mark() if self.credentialed and self.identity_mark is not None else None

        def done(status: "int", retry_after_s: "int | None" = None, text: "str | None" = None) -> "None":
            if mark is not None and self.after_refresh is not None:
                self.after_refresh(mark)
            self._report(status, text)
            self._on_response(sent, status, retry_after_s)

        self.platform.send(self.url, body, done, self.credentialed)

    def _on_response(self, ids: "list[str]", status: "int", retry_after_s: "int | None") -> "None":
        self.in_flight = None
        if self.debug:
            self.log("debug", "sent " + str(len(ids)) + " events: HTTP " + str(status))
        if 200 <= status < 300:
            self.outbox.forget(ids)
            self.attempt = 0
            self.batch_limit = MAX_BATCH_EVENTS
            self._send_next()
            return
        if backoff.retryable(status):
            self.attempt += 1
            for w in self.waiters:
                w[2] += 1
            wait = backoff.delay(self.attempt, backoff.unit_from(self.platform.random_bytes(4)), retry_after_s)
            if self.debug:
                self.log("debug", "retry " + str(self.attempt) + " in " + str(wait) + " ms")
            self._schedule(wait)
            return
        if status in (400, 413) and len(ids) > 1:
            self.batch_limit = max(1, len(ids) // 2)
            self._send_next()
            return
        self.log(
            "error",
            "the collector refused " + str(len(ids)) + " event(s) with HTTP " + str(status) + "; they were dropped",
        )
        self.outbox.forget(ids)
        self._send_next()

    def _report(self, status: "int", text: "str | None") -> "None":
        if status == 0 or status >= 500:
            return
        for reason in reasons(text):
            self._warn_once(
                "collector:" + reason,
                "the collector refused events: " + reason + " (anonymous events are still sent)",
                "error",
            )

    def _settle_waiters(self, items: "list[dict[str, Any]]") -> "None":
        if not self.waiters:
            return
        present: "dict[str, bool]" = {}
        for m in items:
            present[m["messageId"]] = True
        keep: "list[list[Any]]" = []
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

    def on_hide(self, final: "bool" = False) -> "None":
        """Hand what is queued to the browser's beacon; it stays queued until acknowledged.

        final: the page is being left (pagehide), so its queue is marked closed for the next tab.
        """
        if final:
            self.outbox.close()
        items = [m for m in self.outbox.items() if m["messageId"] not in self.beaconed]
        chunk: "list[dict[str, Any]]"
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

    def _beacon(self, batch: "list[dict[str, Any]]") -> "bool":
        ok = self.platform.beacon(self.url, self._body(batch))
        if ok:
            for m in batch:
                self.beaconed[m["messageId"]] = True
        if self.debug:
            self.log("debug", "beacon of " + str(len(batch)) + " events: " + ("queued" if ok else "refused"))
        return ok

    def _warn_once(self, key: "str", message: "str", level: "str" = "warn") -> "None":
        if key not in self._warned:
            self._warned[key] = True
            self.log(level, message)
