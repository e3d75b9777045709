"""Sessions shared by every tab of the origin.

One record under the localStorage key `visitrail_session` (memory in `memory` mode):

    {"v": 2, "id", "startedAt", "lastActivity", "sequence",      times in epoch ms
     "entryUrl", "entryReferrer", "campaign"}                     where the session began

Every event re-reads it before deciding anything, so a tab always adopts what a sibling tab did
(started, extended or rotated the session) without a reload, and never sends an event without a
session.

The rules, decided by event time:
- timeout: an event continues the session when less than `timeout_ms` passed since the last
  activity of any tab (29:59 continues, 30:00 starts a new one);
- maximum length: and when less than `max_ms` passed since the session started (default 24 h:
  23:59:59 continues, 24:00:00 starts a new one);
- nothing else starts one: identify, group, a consent grant or a reload are events like any other.
  rotate() and reset() start one (recorder.py), with the next event as its first.

The entry: the first event of a session (the one that starts it, or the first after rotate(),
reset() or a cross-domain link) writes its page's URL, referrer and campaign (attribution.py) into
the record, and every event of the session is stamped with them. A record of format 1 (before the
entry existed) is read and goes on, without an entry: its session's attribution is not known.

Two tabs that cross the timeout (or the maximum length) at the same moment must not mint two
sessions. localStorage has no compare-and-swap and the Web Locks API is asynchronous (the session
is stamped synchronously, at call time), so the race is designed away: the ID of a session that
follows an expired one is derived from what every tab can see, hash(visitor ID, expired session ID,
its last activity). Tabs that race compute the same ID; whichever writes last, the record names
that one session (and, both being at the same page moment, the same entry). rotate() and reset()
are explicit single-tab actions and take a fresh random ID.
"""

from . import attribution
from .ids import uuid_from
from .stores import dump_record, load_record

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable

    from .stores import LayeredStore

SESSION_KEY = "visitrail_session"
FORMAT = 2  # 1: no entryUrl, entryReferrer, campaign
FORMATS = (1, 2)  # what this SDK reads
DEFAULT_MAX_MS = 24 * 3600000


class Sessions:
    """`store` holds the record; new_id() makes the ID of a session that rotate() starts."""

    def __init__(
        self,
        store: "LayeredStore",
        timeout_ms: "int",
        new_id: "Callable[[], str]",
        max_ms: "int" = DEFAULT_MAX_MS,
    ) -> "None":
        self.store = store
        self.timeout_ms = timeout_ms
        self.max_ms = max_ms
        self.new_id = new_id

    def read(self) -> "dict[str, Any] | None":
        raw = self.store.get(SESSION_KEY)
        r = load_record(raw, FORMATS) if raw is not None else None
        if (
            r is not None
            and isinstance(r.get("id"), str)
            and _int(r.get("startedAt"))
            and _int(r.get("lastActivity"))
            and _int(r.get("sequence"))
        ):
            if not isinstance(r.get("entryUrl"), str):  # format 1, or hand-edited: no entry
                for key in ("entryUrl", "entryReferrer", "campaign"):
                    r.pop(key, None)
            return r
        return None  # none yet, or corrupted: the next event starts a session and overwrites it

    def _write(self, r: "dict[str, Any]") -> "None":
        self.store.set(SESSION_KEY, dump_record(r, FORMAT))

    def _continues(self, r: "dict[str, Any]", t: "int") -> "bool":
        """Does an event at t (not before the last activity) go on with the session of record r?"""
        return bool(t - r["lastActivity"] < self.timeout_ms and t - r["startedAt"] < self.max_ms)

    def touch(self, t: "int", anonymous_id: "str", page: "Any" = None) -> "dict[str, Any]":
        """Stamp an event made at time t on `page` (its {url, referrer, ...}, or None): extends or
        starts the session; {"id", "startedAt", "sequence", "entry", "campaign"} (see _stamp)."""
        r = self.read()
        if r is not None and t < r["lastActivity"]:
            # An event older than the record's last activity (replayed after a boot, or queued).
            start = min(r["startedAt"], t)
            if (
                r["lastActivity"] - t < self.timeout_ms
                and t > r["startedAt"] - self.timeout_ms
                and r["lastActivity"] - start < self.max_ms
            ):
                r["sequence"] += 1
                r["startedAt"] = start
                if r["sequence"] == 1:
                    _enter(r, page)
                self._write(r)
                return _stamp(r)
            # It belongs to a visit this record no longer describes: a session of its own.
            past = {"id": uuid_from("past|" + anonymous_id + "|" + str(t)), "startedAt": t, "sequence": 1}
            _enter(past, page)
            return _stamp(past)
        if r is not None and self._continues(r, t):
            r["lastActivity"] = t
            r["sequence"] += 1
            if r["sequence"] == 1:  # the first event after rotate(), reset() or a link
                _enter(r, page)
        else:
            prev = (r["id"] + "|" + str(r["lastActivity"])) if r else ""
            r = {
                "id": uuid_from("session|" + anonymous_id + "|" + prev),
                "startedAt": t,
                "lastActivity": t,
                "sequence": 1,
            }
            _enter(r, page)
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


def _enter(r: "dict[str, Any]", page: "Any") -> "None":
    """The session's entry: the page of its first event (no page, as a raw call may have: none)."""
    if not isinstance(page, dict):
        return
    r["entryUrl"] = attribution.cut(page.get("url"))
    r["entryReferrer"] = attribution.cut(page.get("referrer"))
    r["campaign"] = attribution.campaign(page)


def _stamp(r: "dict[str, Any]") -> "dict[str, Any]":
    """What an event carries of its session: the ID, the start, the event's place in it, and the
    entry ({"url", "referrer"}) and campaign when the record knows them (else None)."""
    entry = None
    if isinstance(r.get("entryUrl"), str):
        entry = {"url": r["entryUrl"], "referrer": attribution.cut(r.get("entryReferrer"))}
    return {
        "id": r["id"],
        "startedAt": r["startedAt"],
        "sequence": r["sequence"],
        "entry": entry,
        "campaign": attribution.clean(r.get("campaign")) if entry is not None else None,
    }
