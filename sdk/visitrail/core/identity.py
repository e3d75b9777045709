"""Who is behind the events: the visitor (anonymousId), the user (userId, traits) and their group.

Storage keys (documented in README.md, "Storage keys"):
    visitrail_aid    the visitor ID: localStorage, and in cookie mode the shared-domain cookie too
    visitrail_user   {"v": 1, "id", "traits", "once", "group": {"id", "traits"}, "token", "sent"}: localStorage
    visitrail_uid    cookie mode only, a shared-domain cookie: {"a": visitor ID, "u": user ID or null}

Rules:
- The visitor ID is made on first use and kept about a year (the cookie is rewritten on every
  visit, so an active visitor never expires).
- identify merges traits key by key (new keys added, existing ones replaced, none removed).
- Set-once traits (identify's options.setOnce) are held apart ("once"): a key takes the first value
  it is given and keeps it, and traits() shows it over a regular trait of the same key. So does the
  collector (profiles.py, rule 5), which alone decides across devices and arrival orders.
- A different user than the one held is a different person: traits and group are not carried over
  and a new visitor ID is made (as analytics.js does), so the previous user's anonymous history is
  not joined to the new user.
- An identify that changes nothing since the last one sent is not sent again ("sent" holds a digest).
- In cookie mode the cookies of `data-domain` are the authority for the whole identity, not only
  the visitor ID: `visitrail_uid` says which user (or none: signed out) goes with which visitor, so
  an identify or a reset on one subdomain is what every other subdomain's next event carries, in
  new pages and in tabs already open (every read consults it). Traits, group, token and the
  identify digest stay per origin (the collector merges traits per profile): a subdomain that adopts
  a user from the cookie starts from the user ID alone. The user record of an origin speaks only
  while the cookie says nothing of this visitor (an older SDK's visitor, or cookies gone): it is
  then written to the cookie.
- A new visitor ID (reset, another user) is made and written at once: between the removal of the
  old one and a lazily made new one, another subdomain would write the old one back from its own
  copy.
"""

import json

from .ids import digest, looks_like_id
from .stores import LayeredStore, dump_record, load_record

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable, TypedDict

    from .platform import Platform, Store
    from .stores import Health

    class Group(TypedDict):  # visitrail_user's "group"
        id: "str"
        traits: "dict[str, Any]"


ANON_KEY = "visitrail_aid"
USER_KEY = "visitrail_user"
SHARED_KEY = "visitrail_uid"
ONE_YEAR_S = 365 * 24 * 3600
# Both cookies together stay under 1 KB: a user ID too long for it is kept per origin (one warning).
MAX_SHARED_CHARS = 600


def canonical(value: "Any") -> "str":
    """JSON with sorted keys (MicroPython's json.dumps has no sort_keys)."""
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + canonical(value[k]) for k in sorted(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    return json.dumps(value)


def merge_traits(held: "dict[str, Any] | None", new: "dict[str, Any] | None") -> "dict[str, Any]":
    out = dict(held or {})
    for k, v in (new or {}).items():
        out[k] = v
    return out


def id_stores(
    platform: "Platform", mode: "str", domain: "str | None", local: "Store | None", health: "Health"
) -> "tuple[LayeredStore, Store | None]":
    """The layered store for the visitor ID under a `data-id-storage` mode, and in cookie mode the
    shared-domain cookie jar that speaks for the user too (else None)."""
    if mode == "memory":
        return LayeredStore([], health), None
    if mode == "cookie":
        cookie = platform.cookie_store(domain, ONE_YEAR_S)
        return LayeredStore([(cookie, "sync"), (local, "sync")], health), cookie
    cookie = platform.cookie_store(None, ONE_YEAR_S)
    return LayeredStore([(local, "sync"), (cookie, "fallback")], health), None


class Identity:
    """new_id() makes a visitor ID; `ids` holds the visitor ID, `user_store` the user record, and
    `shared` (cookie mode) the cookie jar in which `visitrail_uid` speaks for every subdomain."""

    def __init__(
        self,
        new_id: "Callable[[], str]",
        ids: "LayeredStore",
        user_store: "LayeredStore",
        log: "Callable[[str, str], None]",
        shared: "Store | None" = None,
    ) -> "None":
        self.new_id = new_id
        self.ids = ids
        self.users = user_store
        self.log = log
        self.shared = shared
        self.changes = 0  # the identity's writes that changed a cookie's value, for reassert()
        self._own: "tuple[str | None, str | None]" = (None, None)  # what it last wrote: (visitor ID, uid text)
        self._corrupt_warned = False
        self._long_warned = False
        self._refreshed = False

    # The visitor --------------------------------------------------------------------------

    def anonymous_id(self) -> "str":
        aid = self.ids.get(ANON_KEY)
        if not looks_like_id(aid):
            if aid is not None:
                self._warn_corrupt(ANON_KEY)
            aid = self.new_id()
            self._refreshed = False
            self.changes += 1
        if not self._refreshed:
            # Once per page: refreshes the cookie's Max-Age, so an active visitor never expires.
            self._refreshed = True
            self.ids.set(ANON_KEY, aid)
            self._own = (aid, self._own[1])
        return aid

    def set_anonymous_id(self, aid: "str") -> "None":
        user_id = self._user().get("id")
        self.ids.set(ANON_KEY, aid)
        self._refreshed = True
        self.changes += 1
        self._own = (aid, self._own[1])
        self._publish(aid, user_id)

    def _new_visitor(self) -> "str":
        aid = self.new_id()
        self.ids.set(ANON_KEY, aid)
        self._refreshed = True
        self.changes += 1
        self._own = (aid, self._own[1])
        return aid

    def reassert(self) -> "None":
        """Write this page's view of the identity to the cookies again: a same-site collector's
        answer re-sets them with what they held when the request left (collector/refresh.py), which
        is stale when this page changed them while the request was on its way."""
        aid, text = self._own
        if aid is None:
            return
        self.ids.set(ANON_KEY, aid)
        if self.shared is not None and text is not None:
            try:
                self.shared.set(SHARED_KEY, text)
            except Exception:
                pass

    # The shared domain (cookie mode) --------------------------------------------------------

    def _shared_user(self, aid: "str") -> "tuple[bool, str | None]":
        """(True, user ID or None) when visitrail_uid speaks for this visitor, else (False, None)."""
        if self.shared is None:
            return False, None
        try:
            raw = self.shared.get(SHARED_KEY)
            record = json.loads(raw) if raw else None
        except Exception:
            return False, None
        if not isinstance(record, dict) or record.get("a") != aid:
            return False, None
        uid = record.get("u")
        if uid is not None and not isinstance(uid, str):
            return False, None
        return True, uid

    def _publish(self, aid: "str", user_id: "object") -> "None":
        """Say on the shared domain which user goes with this visitor now (None: signed out)."""
        if self.shared is None:
            return
        text = json.dumps({"a": aid, "u": user_id if isinstance(user_id, str) else None})
        if len(text) > MAX_SHARED_CHARS:
            if not self._long_warned:
                self._long_warned = True
                self.log("warn", "the user ID is too long for the shared cookie: other subdomains will not see it")
            return
        try:
            if self.shared.get(SHARED_KEY) != text:
                self.shared.set(SHARED_KEY, text)
                self.changes += 1
            self._own = (aid, text)
        except Exception:
            pass  # the visitor ID's own cookie layer reports a cookie jar that fails

    # The user -----------------------------------------------------------------------------

    def _user(self) -> "dict[str, Any]":
        user = self._local_user()
        if self.shared is None:
            return user
        aid = self.anonymous_id()
        speaks, uid = self._shared_user(aid)
        if not speaks:
            self._publish(aid, user.get("id"))  # what this origin knows, for the others
        elif user.get("id") != uid:
            # Another subdomain signed this visitor in, out, or in as someone else: the cookie is the truth.
            user = {"id": uid} if uid is not None else {}
            if uid is None:
                self.users.remove(USER_KEY)
            else:
                self._save(user)
        return user

    def _local_user(self) -> "dict[str, Any]":
        raw = self.users.get(USER_KEY)
        if raw is None:
            return {}
        user = load_record(raw)
        if user is not None and isinstance(user.get("traits", {}), dict) and isinstance(user.get("once", {}), dict):
            return user
        self._warn_corrupt(USER_KEY)
        self.users.remove(USER_KEY)
        return {}

    def _save(self, user: "dict[str, Any]") -> "None":
        self.users.set(USER_KEY, dump_record(user))

    def user_id(self) -> "Any":  # the stored record's "id": a string, unless storage was tampered with
        return self._user().get("id")

    def traits(self) -> "dict[str, Any]":
        user = self._user()
        return merge_traits(user.get("traits"), user.get("once"))

    def identify(
        self,
        user_id: "str | None",
        traits: "dict[str, Any]",
        token: "str | None" = None,
        once: "dict[str, Any] | None" = None,
    ) -> "tuple[dict[str, Any], bool]":
        """Apply an identify (`once`: its set-once traits); returns (merged traits, whether an event
        should be sent)."""
        user = self._user()
        held = user.get("id")
        if user_id is not None and held is not None and user_id != held:
            # Another person on this browser without a reset(): start them from nothing.
            user = {}
            self._new_visitor()
        if user_id is not None:
            user["id"] = user_id
        merged = merge_traits(user.get("traits"), traits)
        user["traits"] = merged
        held = merge_traits(once, user.get("once"))  # a key held keeps its first value
        if held:
            user["once"] = held
        if token is not None:
            user["token"] = token or None
        # Without set-once traits, the digest of before them: a stored one still matches.
        fingerprint = digest(canonical([user.get("id"), merged] + ([held] if held else [])))
        send = user.get("sent") != fingerprint
        user["sent"] = fingerprint
        self._save(user)
        self._publish(self.anonymous_id(), user.get("id"))
        return merged, send

    def set_token(self, token: "str | None") -> "None":
        user = self._user()
        if user.get("token") != token:
            user["token"] = token
            self._save(user)

    def set_group(self, group_id: "str", traits: "dict[str, Any]") -> "dict[str, Any]":
        user = self._user()
        held = user.get("group") or {}
        same = held.get("id") == group_id
        group: "Group" = {"id": group_id, "traits": merge_traits(held.get("traits") if same else {}, traits)}
        user["group"] = group
        self._save(user)
        return group["traits"]

    def reset(self, keep_anonymous_id: "bool" = False) -> "None":
        self.users.remove(USER_KEY)
        if keep_anonymous_id:
            aid = self.anonymous_id()
        else:
            self.ids.remove(ANON_KEY)  # every copy, the broken stores' too
            aid = self._new_visitor()
        self._publish(aid, None)

    def snapshot(self) -> "dict[str, Any]":
        user = self._user()
        return {"anonymousId": self.anonymous_id(), "userId": user.get("id"), "identityToken": user.get("token")}

    def _warn_corrupt(self, key: "str") -> "None":
        if not self._corrupt_warned:
            self._corrupt_warned = True
            self.log("warn", "the stored value of " + key + " was unreadable and has been replaced")
