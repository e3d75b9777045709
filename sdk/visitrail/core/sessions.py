"""Sessions shared by every tab of the origin.

One record, {v, id, startedAt, lastActivity, sequence}, under the localStorage key `visitrail_session`
(memory in `memory` mode). Every event re-reads it before deciding anything, so a tab always adopts
what a sibling tab did (started, extended or rotated the session) without a reload, and never sends
an event without a session.

The timeout is decided by event time: an event continues the session when less than `timeout_ms`
passed since the last activity of any tab (29:59 continues, 30:00 starts a new one).

Two tabs that cross the timeout at the same moment must not mint two sessions. localStorage has no
compare-and-swap and the Web Locks API is asynchronous (the session is stamped synchronously, at
call time), so the race is designed away: the ID of a session that follows an expired one is derived
from what every tab can see, hash(visitor ID, expired session ID, its last activity). Tabs that race
compute the same ID; whichever writes last, the record names that one session. rotate() and reset()
are explicit single-tab actions and take a fresh random ID.
"""

from .ids import uuid_from
from .stores import dump_record, load_record

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable

    from .stores import LayeredStore

SESSION_KEY = "visitrail_session"


class Sessions:
    """`store` holds the record; new_id() makes the ID of a session that rotate() starts."""

    def __init__(self, store: "LayeredStore", timeout_ms: "int", new_id: "Callable[[], str]") -> "None":
        self.store = store
        self.timeout_ms = timeout_ms
        self.new_id = new_id

    def read(self) -> "dict[str, Any] | None":
        raw = self.store.get(SESSION_KEY)
        r = load_record(raw) if raw is not None else None
        if (
            r is not None
            and isinstance(r.get("id"), str)
            and _int(r.get("startedAt"))
            and _int(r.get("lastActivity"))
            and _int(r.get("sequence"))
        ):
            return r
        return None  # none yet, or corrupted: the next event starts a session and overwrites it

    def _write(self, r: "dict[str, Any]") -> "None":
        self.store.set(SESSION_KEY, dump_record(r))

    def touch(self, t: "int", anonymous_id: "str") -> "dict[str, Any]":
        """Stamp an event made at time t: {"id", "startedAt", "sequence"}; extends or starts."""
        r = self.read()
        if r is not None and t < r["lastActivity"]:
            # An event older than the record's last activity (replayed after a boot, or queued).
            if r["lastActivity"] - t < self.timeout_ms and t > r["startedAt"] - self.timeout_ms:
                r["sequence"] += 1
                r["startedAt"] = min(r["startedAt"], t)
                self._write(r)
                return _stamp(r)
            # It belongs to a visit this record no longer describes: a session of its own.
            return {"id": uuid_from("past|" + anonymous_id + "|" + str(t)), "startedAt": t, "sequence": 1}
        if r is not None and t - r["lastActivity"] < self.timeout_ms:
            r["lastActivity"] = t
            r["sequence"] += 1
        else:
            prev = (r["id"] + "|" + str(r["lastActivity"])) if r else ""
            r = {
                "id": uuid_from("session|" + anonymous_id + "|" + prev),
                "startedAt": t,
                "lastActivity": t,
                "sequence": 1,
            }
        self._write(r)
        return _stamp(r)

    def rotate(self, t: "int") -> "dict[str, Any]":
        r = {"id": self.new_id(), "startedAt": t, "lastActivity": t, "sequence": 0}
        self._write(r)
        return r

    def adopt(self, session_id: "str", t: "int") -> "None":
        """Go on with a session begun on another site (a cross-domain link made at time t)."""
        self._write({"id": session_id, "startedAt": t, "lastActivity": t, "sequence": 0})

    def current_id(self) -> "str | None":
        r = self.read()
        return r["id"] if r else None


def _int(v: "object") -> "bool":
    return isinstance(v, int) and not isinstance(v, bool)


def _stamp(r: "dict[str, Any]") -> "dict[str, Any]":
    return {"id": r["id"], "startedAt": r["startedAt"], "sequence": r["sequence"]}
