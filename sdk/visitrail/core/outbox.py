"""A tab's events not yet acknowledged, persisted: written before they are sent, removed only when
the collector acknowledged them, so a reload, a crash or a closed tab loses nothing.

Each tab owns its queue, under its own key `visitrail_queue_<tab>`: {"v", "seen", "closed", "items"}.
One shared key would need a read-modify-write from every tab, and localStorage has no transaction:
two tabs appending at the same moment lose one of the two writes (measured: five tabs firing at once
lost three events). With one writer per key that cannot happen, and no event is sent by two tabs.
A queue changes hands only when its tab is gone: marked "closed" on pagehide, or silent for
ORPHAN_MS after a crash; the next tab to send adopts its events and removes the key.

When storage fails the queue lives in memory (one warning, through stores.Health); when it is full
(QuotaExceededError) the oldest tenth goes first. At most MAX_QUEUED events are kept.
"""

import json

from .platform import QuotaError
from .stores import FORMAT

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable

    from .platform import Store
    from .stores import Health

QUEUE_PREFIX = "visitrail_queue_"
MAX_QUEUED = 1000  # events kept while the collector is unreachable; oldest go first
ORPHAN_MS = 10 * 60000  # a queue nobody wrote for this long belonged to a crashed tab


class Outbox:
    def __init__(
        self,
        key: "str",
        store: "Store | None",
        health: "Health",
        clock: "Callable[[], int]",
        warn_once: "Callable[[str, str], None]",
    ) -> "None":
        self.key = QUEUE_PREFIX + key
        self.store = store  # a Store, or None to keep the queue in memory only
        self.health = health
        self.clock = clock  # () -> epoch ms
        self.warn_once = warn_once  # (key, message) -> one console warning per key
        self.memory: "list[dict[str, Any]]" = []
        # The last queue text read or written, its items and each item's JSON: an append then costs
        # one string comparison and one join, not a parse and a dump of the whole queue.
        self._raw: "str | None" = None
        self._items: "list[dict[str, Any]]" = []
        self._json: "dict[str, str]" = {}

    def persisted(self) -> "bool":
        return self.store is not None and self.health.usable(self.store)

    def items(self) -> "list[dict[str, Any]]":
        """The queued events, oldest first (a copy)."""
        if not self.persisted():
            return list(self.memory)
        assert self.store is not None  # persisted() says so; for mypy, which cannot see it
        try:
            raw = self.store.get(self.key)
        except Exception as e:
            self.health.fail(self.store, "read", e)
            return list(self.memory)
        if raw == self._raw:
            return list(self._items)
        items = items_of(raw)
        if items is None:
            self.warn_once("corrupt", "the persisted event queue was unreadable and has been reset")
            items = []
        self._raw, self._items = raw, items
        return list(items)

    def text_of(self, m: "dict[str, Any]") -> "str":
        """An event's JSON, from the cache when it has it."""
        t = self._json.get(m["messageId"])
        return t if t is not None else json.dumps(m)

    def append(self, msg: "dict[str, Any]", text: "str") -> "int":
        """Queue one event (text: its JSON); returns the queue's length."""
        items = self.items()
        items.append(msg)
        self._json[msg["messageId"]] = text
        if len(items) > MAX_QUEUED:
            self.warn_once(
                "full", "the event queue is full (" + str(MAX_QUEUED) + " events): the oldest are being dropped"
            )
            items = items[len(items) - MAX_QUEUED :]
        return len(self.save(items))

    def forget(self, ids: "list[str]") -> "None":
        """Remove the events with these messageIds (acknowledged, or refused for good)."""
        gone: "dict[str, bool]" = {}
        for i in ids:
            gone[i] = True
        self.save([m for m in self.items() if m["messageId"] not in gone])

    def close(self) -> "None":
        """The tab is being left: mark its queue for the next tab to adopt."""
        items = self.items()
        if items:
            self.save(items, closed=True)

    def json_array(self, items: "list[dict[str, Any]]", prune: "bool" = True) -> "str":
        cache: "dict[str, str]" = {}
        parts: "list[str]" = []
        for m in items:
            t = self.text_of(m)
            cache[m["messageId"]] = t
            parts.append(t)
        if prune:
            self._json = cache
        return "[" + ",".join(parts) + "]"

    def save(self, items: "list[dict[str, Any]]", closed: "bool" = False) -> "list[dict[str, Any]]":
        """Persist `items` (all of the queue); returns what was kept."""
        while self.persisted():
            assert self.store is not None  # persisted() says so; for mypy, which cannot see it
            try:
                if items:
                    raw = (
                        '{"v": '
                        + str(FORMAT)
                        + ', "seen": '
                        + str(self.clock())
                        + ', "closed": '
                        + ("true" if closed else "false")
                        + ', "items": '
                        + self.json_array(items)
                        + "}"
                    )
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
                self.warn_once("quota", "storage is full: the oldest queued events are being dropped")
                items = items[max(1, len(items) // 10) :]
            except Exception as e:
                self.health.fail(self.store, "write", e)
        self.memory = list(items)
        return items

    def closed_elsewhere(self, key: "str | None", value: "str | None") -> "bool":
        """A storage event: is this another tab's queue, just marked closed on pagehide?"""
        return bool(
            key and key.startswith(QUEUE_PREFIX) and key != self.key and value and '"closed": true' in value[:80]
        )

    def adopt(self) -> "bool":
        """Take over the queues of tabs that are gone (closed, or silent since a crash); returns
        whether any event was taken."""
        if not self.persisted():
            return False
        assert self.store is not None  # persisted() says so; for mypy, which cannot see it
        try:
            keys = self.store.keys()
        except Exception:
            return False  # a store that cannot list its keys: each tab keeps to its own queue
        now = self.clock()
        taken: "list[dict[str, Any]]" = []
        for key in keys:
            if not key.startswith(QUEUE_PREFIX) or key == self.key:
                continue
            try:
                raw = self.store.get(key)
            except Exception:
                continue  # cannot be read now: left for later (it may be a live tab's queue)
            try:
                record = json.loads(raw) if raw else None
            except Exception:
                record = None
            if isinstance(record, dict) and not record.get("closed") and now - _int(record.get("seen")) < ORPHAN_MS:
                continue  # a live tab's queue
            taken.extend(items_of(raw) or [])
            try:
                self.store.remove(key)
            except Exception:
                pass
        if not taken:
            return False
        items = self.items()
        have: "dict[str, bool]" = {}
        for m in items:
            have[m["messageId"]] = True
        # The adopted events are older than ours: they go first.
        merged = [m for m in taken if m["messageId"] not in have] + items
        self.save(merged[-MAX_QUEUED:])
        return True


def _int(v: "object") -> "int":
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def items_of(raw: "str | None") -> "list[dict[str, Any]] | None":
    """The events in a stored queue record, or None when it is unreadable."""
    try:
        record = json.loads(raw) if raw else {"items": []}
        items = record.get("items") if isinstance(record, dict) else None
        if not isinstance(items, list) or record.get("v", FORMAT) != FORMAT:
            return None
        return [m for m in items if isinstance(m, dict) and isinstance(m.get("messageId"), str)]
    except Exception:
        return None
