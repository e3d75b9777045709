"""Stores layered so that a failing one never breaks the SDK.

A LayeredStore reads from the first store that answers with a value and writes to every store that
takes part. When a store raises (localStorage blocked, Safari private mode, quota exceeded, cookies
disabled), it is set aside with one console warning and the next one takes its place; the last
layer is always memory, so a value can always be kept for the page.

Two roles a store can play:
- "sync": written on every set and resynced from the winner on every read. In cookie mode the
  shared-domain cookie comes first and the per-origin localStorage copy follows, so the cookie is the
  one source of truth across subdomains (otherwise the ID ping-pongs between them) while the
  localStorage copy brings the ID back when the cookie is gone (Safari ITP's 7-day cap).
- "fallback": used only once every store before it has failed (localStorage -> cookie -> memory).

Every JSON record the SDK stores (user, session, each tab's queue) carries its format, "v", so
that a later SDK can tell an old record from a new one and migrate it: 1 for the user and the
queue, 2 for the session (sessions.py: 1 had no entry page). A record without "v" is read as
version 1 (stored before the field existed); one of a version its reader does not know (written
by a newer SDK, before a downgrade) is unreadable, like a corrupted one.
"""

import json

from .platform import MemoryStore

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable, Literal

    from .platform import Store

    Role = Literal["sync", "fallback"]  # see the module docstring

FORMAT = 1


def load_record(raw: "str", formats: "tuple[int, ...]" = (FORMAT,)) -> "dict[str, Any] | None":
    """A stored JSON record (a dict) of one of the formats its reader knows, or None when it is not one."""
    try:
        record = json.loads(raw)
    except Exception:
        return None
    if not isinstance(record, dict) or record.get("v", FORMAT) not in formats:
        return None
    return record


def dump_record(record: "dict[str, Any]", version: "int" = FORMAT) -> "str":
    """The JSON text of a record, with its format."""
    record["v"] = version
    return json.dumps(record)


class Health:
    """Which stores of one client have failed; shared by all its layered stores so that a blocked
    localStorage is reported once, not once per use."""

    def __init__(self, log: "Callable[[str, str], None]") -> "None":
        self.log = log
        self.broken: "dict[str, bool]" = {}

    def fail(self, store: "Store", action: "str", err: "Exception") -> "None":
        if store.name not in self.broken:
            self.broken[store.name] = True
            self.log(
                "warn",
                store.name
                + " is not usable ("
                + action
                + ": "
                + _reason(err)
                + "); the SDK goes on with the next store (cookie, then memory)",
            )

    def usable(self, store: "Store | None") -> "bool":
        return store is not None and store.name not in self.broken


class LayeredStore:
    def __init__(self, layers: "list[tuple[Store | None, Role]]", health: "Health") -> "None":
        # layers: [(store, role)] in order of authority; a memory layer is appended.
        self.layers: "list[tuple[Store, Role]]" = [(s, r) for s, r in layers if s is not None]
        self.layers.append((MemoryStore(), "sync"))
        self.health = health

    def _warn(self, store: "Store", action: "str", err: "Exception") -> "None":
        self.health.fail(store, action, err)

    def active(self) -> "list[tuple[Store, Role]]":
        """The stores in use now: every healthy sync store, plus fallbacks while none came first."""
        out: "list[tuple[Store, Role]]" = []
        for s, role in self.layers:
            if not self.health.usable(s):
                continue
            if role == "fallback" and out:
                continue
            out.append((s, role))
        return out

    def get(self, key: "str") -> "str | None":
        winner: "str | None" = None
        stale: "list[Store]" = []
        for s, _ in self.active():
            try:
                v = s.get(key)
            except Exception as e:
                self._warn(s, "read", e)
                continue
            if winner is None and v is not None:
                winner = v
            elif v != winner:
                stale.append(s)
        if winner is not None:
            for s in stale:
                self._set(s, key, winner)
        return winner

    def set(self, key: "str", value: "str") -> "None":
        for s, _ in self.active():
            self._set(s, key, value)

    def remove(self, key: "str") -> "None":
        # Every layer, broken or not, is asked to forget: a sign-out must leave nothing behind.
        for s, _ in self.layers:
            try:
                s.remove(key)
            except Exception:
                pass

    def _set(self, s: "Store", key: "str", value: "str") -> "bool":
        try:
            s.set(key, value)
            return True
        except Exception as e:
            self._warn(s, "write", e)
            return False


def _reason(err: "Exception") -> "str":
    text = str(err) or type(err).__name__
    return text[:120]
