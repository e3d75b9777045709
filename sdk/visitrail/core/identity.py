"""Who is behind the events: the visitor (anonymousId), the user (userId, traits) and their group.

Storage keys (documented in README.md, "Storage keys"):
    visitrail_aid    the visitor ID: localStorage, and in cookie mode the shared-domain cookie too
    visitrail_user   {"v": 1, "id", "traits", "group": {"id", "traits"}, "token", "sent"}: localStorage

Rules:
- The visitor ID is made on first use and kept about a year (the cookie is rewritten on every
  visit, so an active visitor never expires).
- identify merges traits key by key (new keys added, existing ones replaced, none removed).
- A different user than the one held is a different person: traits and group are not carried over
  and a new visitor ID is made (as analytics.js does), so the previous user's anonymous history is
  not joined to the new user.
- An identify that changes nothing since the last one sent is not sent again ("sent" holds a digest).
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
ONE_YEAR_S = 365 * 24 * 3600


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
) -> "LayeredStore":
    """The layered store for the visitor ID under a `data-id-storage` mode."""
    if mode == "memory":
        return LayeredStore([], health)
    if mode == "cookie":
        cookie = platform.cookie_store(domain, ONE_YEAR_S)
        return LayeredStore([(cookie, "sync"), (local, "sync")], health)
    cookie = platform.cookie_store(None, ONE_YEAR_S)
    return LayeredStore([(local, "sync"), (cookie, "fallback")], health)


class Identity:
    """new_id() makes a visitor ID; `ids` holds the visitor ID, `user_store` the user record."""

    def __init__(
        self,
        new_id: "Callable[[], str]",
        ids: "LayeredStore",
        user_store: "LayeredStore",
        log: "Callable[[str, str], None]",
    ) -> "None":
        self.new_id = new_id
        self.ids = ids
        self.users = user_store
        self.log = log
        self._corrupt_warned = False
        self._refreshed = False

    # The visitor --------------------------------------------------------------------------

    def anonymous_id(self) -> "str":
        aid = self.ids.get(ANON_KEY)
        if not looks_like_id(aid):
            if aid is not None:
                self._warn_corrupt(ANON_KEY)
            aid = self.new_id()
            self._refreshed = False
        if not self._refreshed:
            # Once per page: refreshes the cookie's Max-Age, so an active visitor never expires.
            self._refreshed = True
            self.ids.set(ANON_KEY, aid)
        return aid

    def set_anonymous_id(self, aid: "str") -> "None":
        self.ids.set(ANON_KEY, aid)
        self._refreshed = True

    # The user -----------------------------------------------------------------------------

    def _user(self) -> "dict[str, Any]":
        raw = self.users.get(USER_KEY)
        if raw is None:
            return {}
        user = load_record(raw)
        if user is not None and isinstance(user.get("traits", {}), dict):
            return user
        self._warn_corrupt(USER_KEY)
        self.users.remove(USER_KEY)
        return {}

    def _save(self, user: "dict[str, Any]") -> "None":
        self.users.set(USER_KEY, dump_record(user))

    def user_id(self) -> "Any":  # the stored record's "id": a string, unless storage was tampered with
        return self._user().get("id")

    def traits(self) -> "dict[str, Any]":
        return self._user().get("traits") or {}

    def identify(
        self, user_id: "str | None", traits: "dict[str, Any]", token: "str | None" = None
    ) -> "tuple[dict[str, Any], bool]":
        """Apply an identify; returns (merged traits, whether an event should be sent)."""
        user = self._user()
        held = user.get("id")
        if user_id is not None and held is not None and user_id != held:
            # Another person on this browser without a reset(): start them from nothing.
            user = {}
            self.ids.remove(ANON_KEY)
        if user_id is not None:
            user["id"] = user_id
        merged = merge_traits(user.get("traits"), traits)
        user["traits"] = merged
        if token is not None:
            user["token"] = token or None
        fingerprint = digest(canonical([user.get("id"), merged]))
        send = user.get("sent") != fingerprint
        user["sent"] = fingerprint
        self._save(user)
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
        if not keep_anonymous_id:
            self.ids.remove(ANON_KEY)

    def snapshot(self) -> "dict[str, Any]":
        user = self._user()
        return {"anonymousId": self.anonymous_id(), "userId": user.get("id"), "identityToken": user.get("token")}

    def _warn_corrupt(self, key: "str") -> "None":
        if not self._corrupt_warned:
            self._corrupt_warned = True
            self.log("warn", "the stored value of " + key + " was unreadable and has been replaced")
