"""Identity resolution: which profile each anonymousId, userId and event belongs to. Pure logic, no I/O.

A storage backend loads the part of the identity graph a batch touches into a `Graph`, applies the
batch's events in order, and writes back what changed, in the transaction that stores the events.
Rebuilding replays every stored event through the same code, oldest first.

Profiles span the whole collector, every write key alike: a site's browser source and its server
source (analytics-python's identify) must land on the same person.

The rules, applied to each event in arrival order:

1. Every userId and every anonymousId belongs to exactly one profile, created by the first event
   that names it. Each event belongs to exactly one profile: its userId's if it has one, else its
   anonymousId's.
2. An event with a userId U and an anonymousId A links them:
   - A unknown: A joins U's profile.
   - A's profile has no userId yet (anonymous browsing): U joins it if U is new, else A's whole
     profile (IDs, traits, events) merges into U's.
   - A's profile already has a different userId: nothing moves (a shared device). A stays with the
     first user it was linked to, U gets or keeps its own profile, and this event belongs to U.
   So without alias, a profile never holds two userIds: two users are never merged through an
   anonymousId alone.
3. `alias` (userId U, previousId X) first links its own userId and anonymousId as rule 2 says, then
   merges X's profile into U's, even when X's profile has another userId: alias is an explicit
   instruction, and merging two identified profiles (a legacy ID into a new one) is what it is for.
   X is looked up as a userId first, then as an anonymousId; an unknown X is recorded as an
   anonymousId of U's profile, since alias is mostly used to link a client-side visitor.
4. When profiles merge, the one holding the event's userId survives, keeping its profileId; the
   other's IDs, traits and events move to it and its profileId stops existing.
5. Traits come from identify calls and merge per key: the value from the latest event wins, by
   the event's skew-corrected timestamp, then by event id (arrival order) on a tie. Each key keeps
   its own timestamp, so a late identify with an older timestamp can't overwrite a newer value,
   and the result is the same in whatever order events and merges happen (but see rule 6).
   Set-once traits (an identify's `context.traitsOnce`) are the other way round: the value from
   the earliest event wins, by the same timestamp, then event id. A set-once value outranks a
   regular one of the same key: it replaces it, and no regular value replaces it. (Letting a
   regular value that came first keep the key would make the result depend on which event
   arrived first.) So a set-once key holds the earliest value ever set once for it, across a
   merge too, whatever the order of events and merges. `Trait.beats` is this rule (and
   resolution.py's MERGE_TRAITS, in SQL).
6. Verified identity (trust.py): an event whose identity token proved its userId marks its
   profile verified, for good. From then on the profile's traits change only through verified
   events: an unverified identify is stored and linked as usual, but its traits (set-once ones
   too) are not applied, and a merge that an unverified event causes brings the other profile's
   traits along only if that profile was verified too. A merge makes the survivor verified if
   either side was. Since this depends on when a profile became verified, a rebuild (which
   replays in arrival order) gives the same result as the live collector did, but reordering
   events could change it.
7. A verified profile is merged only with proof (rule 6's tokens, whatever the source's mode): an
   alias that would merge X's profile into U's needs
   - a valid token for previousId X (`context.previousIdentityToken`) and one for userId U, when
     X's profile is verified: else anyone could take a proven user over, or be merged into one;
   - a token for U, when U's profile is verified and X's holds a userId: else anyone could pour
     another identified profile into a proven one.
   An alias that lacks what it needs is refused (`refusal`): the collector doesn't store it
   (storage's `add` reports it). Anonymous-only profiles are never verified, so linking a visitor
   (rule 2, or an alias of an anonymousId) needs no proof. A rebuild meeting such an alias (stored
   by a collector before this rule) links its IDs as rule 2 does and merges nothing.
8. Limits (`Limits`, per profile: anonymous IDs, user IDs, trait keys; 0 for none): a link that
   would take a profile past a limit is refused and recorded in the graph's `log`. A new ID beyond
   its kind's limit gets a profile of its own instead of joining; a merge whose two sides together
   hold more than a limit allows (trait keys counted per side, without their overlap) leaves both
   profiles as they are; trait keys new to a profile beyond its limit are not set (set-once keys
   are trait keys: one count, one limit). The event is stored and belongs where rule 1 says.
   Every merge and every refusal (these, rule 2's shared device, rule 7's) is an entry of `log`,
   which storage keeps per profile (the merge log).

The graph holds only what a batch touches: a loaded profile carries its counts (IDs of each kind,
trait keys, events) and just the IDs and trait keys the batch names, so an event costs the same
whatever the size of its profile. A merge moves the rest of the loser in storage (resolution.py),
as `merges` lists them.
"""

from __future__ import annotations

import dataclasses
import json
import typing
import uuid

__all__ = [
    "USER",
    "ANONYMOUS",
    "PROOF_OF_BOTH",
    "PROOF_OF_USER",
    "Link",
    "Limits",
    "LogEntry",
    "Merge",
    "Trait",
    "Profile",
    "Graph",
    "TRAITS_ONCE",
    "session_id_of",
    "new_profile_id",
]

USER = "user"
ANONYMOUS = "anonymous"
PROOF_OF_BOTH = (
    "alias would merge a verified profile: it needs valid identity tokens for userId (context.identityToken) "
    "and for previousId (context.previousIdentityToken)"
)
PROOF_OF_USER = (
    "alias would merge another user into a verified profile: it needs a valid identity token for userId "
    "(context.identityToken)"
)
TRAITS_ONCE = "traitsOnce"  # an identify's set-once traits, in its context (rule 5)
SHARED_DEVICE = "the anonymousId belongs to another user's profile: two users are never merged through it"
Identity = tuple[str, str]  # (USER | ANONYMOUS, value)
# Kinds of log entries.
MERGED = "merged"  # another profile was merged into this one
REFUSED = "refused"  # a link or a trait this profile did not take (rules 2, 7, 8)


@dataclasses.dataclass(frozen=True)
class Limits:
    """Rule 8's limits per profile; 0: none. Defaults: far above one person's devices and
    browsers over years, far below what a bot or a shared placeholder collects."""

    anonymous_ids: int = 1000
    user_ids: int = 10
    traits: int = 1000

    def allows(self, limit_name: str, count: int) -> bool:
        limit = int(getattr(self, limit_name))
        return limit == 0 or count <= limit


NO_LIMITS = Limits(0, 0, 0)
LIMIT_NAMES = {"anonymous_ids": "anonymous ID", "user_ids": "user ID", "traits": "trait key"}


@dataclasses.dataclass(frozen=True)
class LogEntry:
    """One line of a profile's merge log: which event, which IDs, what happened and why."""

    profile_id: str
    event_id: int
    kind: str  # MERGED | REFUSED
    ids: tuple[Identity, ...]  # the IDs that moved, or would have
    reason: str
    other: str | None = None  # the other profile: the one merged in, or the one refused


@dataclasses.dataclass(frozen=True)
class Merge:
    """A merge for storage to carry out: every row of `loser` moves to `survivor`; its traits too
    when `traits` (rule 6)."""

    loser: str
    survivor: str
    traits: bool


def new_profile_id() -> str:
    return uuid.uuid4().hex


def session_id_of(body: dict[str, typing.Any]) -> str | None:
    """An event's session: `context.sessionId` (Visitrail's SDK: a UUID), else the
    session_id that Segment's Amplitude (Actions) plugin puts in `integrations`, as analytics-next
    users send it. That one is the session's start in epoch ms, which two visitors share when they
    start in the same millisecond: it is a session of the device that sent it, as Amplitude keys it
    (device, session_id), so the ID is "<start>:<anonymousId>" (or userId)."""
    context = body.get("context")
    session = _session_value(context.get("sessionId") if isinstance(context, dict) else None)
    if session is not None:
        return session
    amplitude = (body.get("integrations") or {}).get("Actions Amplitude")
    start = _session_value(amplitude.get("session_id") if isinstance(amplitude, dict) else None)
    device = body.get("anonymousId") or body.get("userId")
    if start is None or isinstance(device, bool) or not isinstance(device, (str, int, float)):
        return None
    return f"{start}:{device}"


def _session_value(value: typing.Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = str(value)
    return text if text.strip() else None  # "" and "  " are no session


@dataclasses.dataclass(frozen=True)
class Link:
    """What identity resolution needs of one stored event."""

    event_id: int  # the events table's id: arrival order
    type: str
    timestamp: str  # skew-corrected, ISO-8601 UTC with milliseconds: sorts as text
    user_id: str | None = None
    anonymous_id: str | None = None
    previous_id: str | None = None  # alias only
    traits: dict[str, typing.Any] | None = None  # identify only
    verified: bool = False  # carried a valid identity token for its userId (trust.py)
    previous_verified: bool = False  # alias only: and one for its previousId (rule 7)
    traits_once: dict[str, typing.Any] | None = None  # identify only: context.traitsOnce (rule 5)

    @classmethod
    def from_row(
        cls,
        event_id: int,
        type: str,
        timestamp: str,
        user_id: str | None,
        anonymous_id: str | None,
        body: str,
        verified: typing.Any = False,
        previous_verified: typing.Any = False,
    ) -> Link:
        previous_id, traits, once = None, None, None
        if type in ("identify", "alias"):  # only these carry anything more; don't parse the rest
            message = json.loads(body)
            if type == "alias" and message.get("previousId") not in (None, ""):
                previous_id = str(message["previousId"])
            if type == "identify" and isinstance(message.get("traits"), dict):
                traits = message["traits"]
            context = message.get("context")
            if type == "identify" and isinstance(context, dict) and isinstance(context.get(TRAITS_ONCE), dict):
                once = context[TRAITS_ONCE]
        return cls(
            event_id,
            type,
            timestamp,
            user_id,
            anonymous_id,
            previous_id,
            traits,
            bool(verified),
            bool(previous_verified),
            once,
        )

    def trait_values(self) -> list[tuple[str, Trait]]:
        """The traits this event sets (rule 5), its set-once ones after its regular ones."""
        return [(key, Trait(value, self.timestamp, self.event_id)) for key, value in (self.traits or {}).items()] + [
            (key, Trait(value, self.timestamp, self.event_id, True)) for key, value in (self.traits_once or {}).items()
        ]


@dataclasses.dataclass(frozen=True)
class Trait:
    value: typing.Any  # any JSON value
    timestamp: str
    event_id: int
    once: bool = False  # set once (context.traitsOnce)

    def beats(self, other: Trait | None) -> bool:
        """Rule 5: does this value replace `other`, the key's value so far?"""
        if other is None:
            return True
        if self.once != other.once:
            return self.once
        mine, theirs = (self.timestamp, self.event_id), (other.timestamp, other.event_id)
        return mine < theirs if self.once else mine > theirs


@dataclasses.dataclass
class Profile:
    """A profile, or the part of it a batch touches: `user_ids`, `anonymous_ids` and `traits` may
    hold only some of its IDs and keys, the counts are always all of them."""

    id: str
    user_ids: set[str] = dataclasses.field(default_factory=set)
    anonymous_ids: set[str] = dataclasses.field(default_factory=set)
    traits: dict[str, Trait] = dataclasses.field(default_factory=dict)
    event_count: int = 0
    first_seen: str | None = None
    last_seen: str | None = None
    verified: bool = False  # rule 6
    user_count: int | None = None  # None: len(user_ids), all of them known
    anonymous_count: int | None = None
    trait_count: int | None = None  # an upper bound within a batch after a merge (rule 8)
    new: bool = False  # made by this batch: nothing of it is stored yet

    def __post_init__(self) -> None:
        if self.user_count is None:
            self.user_count = len(self.user_ids)
        if self.anonymous_count is None:
            self.anonymous_count = len(self.anonymous_ids)
        if self.trait_count is None:
            self.trait_count = len(self.traits)

    def count(self, kind: str) -> int:
        count = self.user_count if kind == USER else self.anonymous_count
        assert count is not None
        return count

    def identities(self) -> list[Identity]:
        return [(USER, u) for u in sorted(self.user_ids)] + [(ANONYMOUS, a) for a in sorted(self.anonymous_ids)]

    def ids_of(self, kind: str) -> set[str]:
        return self.user_ids if kind == USER else self.anonymous_ids

    def seen(self, timestamp: str, count: int = 1) -> None:
        self.event_count += count
        self.first_seen = min(filter(None, (self.first_seen, timestamp)))
        self.last_seen = max(filter(None, (self.last_seen, timestamp)))


class Graph:
    """The profiles a batch touches, changed in memory; the `*_changed` sets, `merges` and `log` say
    what to write back.

    Load every profile owning an identity in `identities_of(links)` (with at least those
    identities, its counts, and its traits of `trait_keys_of(links)`), then `apply` each link in
    arrival order.
    """

    def __init__(
        self,
        profiles: typing.Iterable[Profile] = (),
        new_id: typing.Callable[[], str] = new_profile_id,
        limits: Limits = NO_LIMITS,
    ) -> None:
        self.new_id = new_id
        self.limits = limits
        self.profiles: dict[str, Profile] = {}
        self.owner: dict[Identity, str] = {}
        for profile in profiles:
            self.profiles[profile.id] = profile
            for identity in profile.identities():
                self.owner[identity] = profile.id
        self.merged: dict[str, str] = {}  # removed profileId -> the profile it merged into
        self.merges: list[Merge] = []  # of stored profiles, in the order they happened
        self.carried_traits: dict[str, bool] = {}  # removed profileId -> its traits came along (rule 6)
        self.event_profiles: dict[int, str] = {}  # event_id -> profileId when it was applied
        self.profiles_changed: set[str] = set()
        self.identities_changed: set[Identity] = set()
        self.traits_changed: set[tuple[str, str]] = set()  # (profileId, key)
        self.refused: dict[int, str] = {}  # event_id -> why rule 7 refused it (storage's `resolve`)
        self.log: list[LogEntry] = []
        self._event_id = 0  # the link being applied, for the log

    @staticmethod
    def identities_of(links: typing.Iterable[Link]) -> set[Identity]:
        """The identities whose profiles must be loaded before applying `links`."""
        needed: set[Identity] = set()
        for link in links:
            if link.user_id is not None:
                needed.add((USER, link.user_id))
            if link.anonymous_id is not None:
                needed.add((ANONYMOUS, link.anonymous_id))
            if link.previous_id is not None:
                needed |= {(USER, link.previous_id), (ANONYMOUS, link.previous_id)}
        return needed

    @staticmethod
    def trait_keys_of(links: typing.Iterable[Link]) -> set[str]:
        """The trait keys a loaded profile must carry (those `links` set)."""
        return {key for link in links for key, _ in link.trait_values()}

    def refusal(self, link: Link) -> str | None:
        """Why rule 7 refuses this event, or None. Changes nothing."""
        if link.type != "alias" or link.previous_id is None or link.user_id is None:
            return None
        previous = self.profile_of((USER, link.previous_id)) or self.profile_of((ANONYMOUS, link.previous_id))
        survivor = self.profile_of((USER, link.user_id))
        if survivor is None and link.anonymous_id is not None:
            anonymous = self.profile_of((ANONYMOUS, link.anonymous_id))
            survivor = anonymous if anonymous is not None and not anonymous.count(USER) else None
        if previous is None or previous is survivor:
            return None
        if previous.verified and not (link.verified and link.previous_verified):
            return PROOF_OF_BOTH
        if survivor is not None and survivor.verified and previous.count(USER) and not link.verified:
            return PROOF_OF_USER
        return None

    def refuse(self, link: Link, reason: str) -> None:
        """Record that rule 7 refused `link` (it is not stored): in `refused` and the log."""
        self.refused[link.event_id] = reason
        assert link.user_id is not None and link.previous_id is not None
        target = self.profile_of((USER, link.user_id))
        previous = self.profile_of((USER, link.previous_id)) or self.profile_of((ANONYMOUS, link.previous_id))
        kind = USER if previous is not None and link.previous_id in previous.user_ids else ANONYMOUS
        ids = ((USER, link.user_id), (kind, link.previous_id))
        for profile, other in ((target, previous), (previous, target)):
            if profile is not None:
                self.log.append(LogEntry(profile.id, link.event_id, REFUSED, ids, reason, other.id if other else None))

    def apply(self, link: Link) -> Profile | None:
        """Resolve one event; returns the profile it belongs to (None if it names no one). An alias
        that rule 7 refuses links its own IDs and merges nothing."""
        if link.user_id is None and link.anonymous_id is None:
            return None  # the tracking API refuses these; a hand-made row may still have one
        self._event_id = link.event_id
        refused = self.refusal(link) is not None
        profile = self._link(link.user_id, link.anonymous_id, link.verified)
        if link.type == "alias" and link.previous_id is not None and not refused:
            previous = self.profile_of((USER, link.previous_id)) or self.profile_of((ANONYMOUS, link.previous_id))
            if previous is None:
                self._join((ANONYMOUS, link.previous_id), profile)
            elif previous is not profile:
                self._merge(previous, profile, link.verified)
        profile.seen(link.timestamp)
        if link.verified and not profile.verified:
            profile.verified = True  # before its traits: the verifying identify's own traits apply
        if link.verified or not profile.verified:
            self._set_traits(profile, link)
        self.profiles_changed.add(profile.id)
        self.event_profiles[link.event_id] = profile.id
        return profile

    def _set_traits(self, profile: Profile, link: Link) -> None:
        beyond = set()
        for key, trait in link.trait_values():
            current = profile.traits.get(key)
            if current is None:
                assert profile.trait_count is not None
                if not self.limits.allows("traits", profile.trait_count + 1):
                    beyond.add(key)
                    continue
                profile.trait_count += 1
            if trait.beats(current):
                profile.traits[key] = trait
                self.traits_changed.add((profile.id, key))
        if beyond:
            shown = ", ".join(sorted(beyond)[:10]) + (", ..." if len(beyond) > 10 else "")
            reason = f"trait key limit ({self.limits.traits}): {len(beyond)} new keys not set: {shown}"
            self.log.append(LogEntry(profile.id, link.event_id, REFUSED, (), reason))

    def profile_of(self, identity: Identity) -> Profile | None:
        profile_id = self.owner.get(identity)
        return None if profile_id is None else self.profiles[profile_id]

    def final_id(self, profile_id: str) -> str:
        """The profile `profile_id` ended up in, following merges."""
        while profile_id in self.merged:
            profile_id = self.merged[profile_id]
        return profile_id

    def final_merge(self, merge: Merge) -> Merge:
        """`merge` as storage carries it out: into the profile its survivor ended up in (a survivor
        made by this batch and merged again was never stored), the loser's traits along only if
        every merge on the way carried them."""
        traits, profile_id = self.carried_traits[merge.loser], merge.survivor
        while profile_id in self.merged:
            traits = traits and self.carried_traits[profile_id]
            profile_id = self.merged[profile_id]
        return Merge(merge.loser, profile_id, traits)

    def final_event_profiles(self) -> dict[int, str]:
        return {event_id: self.final_id(profile_id) for event_id, profile_id in self.event_profiles.items()}

    def _link(self, user_id: str | None, anonymous_id: str | None, verified: bool) -> Profile:
        user = None if user_id is None else (USER, user_id)
        anonymous = None if anonymous_id is None else (ANONYMOUS, anonymous_id)
        user_profile = None if user is None else self.profile_of(user)
        anonymous_profile = None if anonymous is None else self.profile_of(anonymous)
        if user is None:
            assert anonymous is not None
            return anonymous_profile or self._create(anonymous)
        if user_profile is None:
            if anonymous_profile is not None and not anonymous_profile.count(USER):
                if self._join(user, anonymous_profile):
                    return anonymous_profile
                return self.profiles[self.owner[user]]
            # New user; A (if any) is new too, or stays with the user it was first linked to.
            user_profile = self._create(user)
            if anonymous is not None and anonymous_profile is None:
                self._join(anonymous, user_profile)
            elif anonymous is not None:
                self._shared_device(user_profile, anonymous, anonymous_profile)
            return user_profile
        if anonymous is not None and anonymous_profile is None:
            self._join(anonymous, user_profile)
        elif anonymous_profile is not None and anonymous_profile is not user_profile:
            if anonymous_profile.count(USER):
                self._shared_device(user_profile, anonymous, anonymous_profile)
            else:
                self._merge(anonymous_profile, user_profile, verified)
        return user_profile

    def _shared_device(self, profile: Profile, anonymous: Identity | None, other: Profile | None) -> None:
        assert anonymous is not None and other is not None
        self.log.append(LogEntry(profile.id, self._event_id, REFUSED, (anonymous,), SHARED_DEVICE, other.id))

    def _create(self, identity: Identity) -> Profile:
        profile = Profile(self.new_id(), new=True)
        self.profiles[profile.id] = profile
        self._attach(identity, profile)
        return profile

    def _join(self, identity: Identity, profile: Profile) -> bool:
        """A new identity joins `profile`, or gets a profile of its own past the limit (rule 8)."""
        name = "user_ids" if identity[0] == USER else "anonymous_ids"
        if self.limits.allows(name, profile.count(identity[0]) + 1):
            self._attach(identity, profile)
            return True
        own = self._create(identity)
        reason = f"{LIMIT_NAMES[name]} limit ({getattr(self.limits, name)}): kept as a profile of its own"
        self.log.append(LogEntry(profile.id, self._event_id, REFUSED, (identity,), reason, own.id))
        return False

    def _attach(self, identity: Identity, profile: Profile) -> None:
        profile.ids_of(identity[0]).add(identity[1])
        if identity[0] == USER:
            profile.user_count = profile.count(USER) + 1
        else:
            profile.anonymous_count = profile.count(ANONYMOUS) + 1
        self.owner[identity] = profile.id
        self.identities_changed.add(identity)
        self.profiles_changed.add(profile.id)

    def _over_limit(self, loser: Profile, survivor: Profile) -> str | None:
        """The limit a merge of these two would break (rule 8), if any."""
        assert loser.trait_count is not None and survivor.trait_count is not None
        for name, total in (
            ("anonymous_ids", loser.count(ANONYMOUS) + survivor.count(ANONYMOUS)),
            ("user_ids", loser.count(USER) + survivor.count(USER)),
            ("traits", loser.trait_count + survivor.trait_count),
        ):
            if not self.limits.allows(name, total):
                return f"{LIMIT_NAMES[name]} limit ({getattr(self.limits, name)}): together {total}; not merged"
        return None

    def _merge(self, loser: Profile, survivor: Profile, verified: bool) -> bool:
        """Move `loser` into `survivor`; `verified`: the event causing the merge was (rule 6)."""
        over = self._over_limit(loser, survivor)
        moved = tuple(loser.identities())  # those the batch knows; storage moves all of them
        if over is not None:
            for profile, other in ((survivor, loser), (loser, survivor)):
                self.log.append(LogEntry(profile.id, self._event_id, REFUSED, moved, over, other.id))
            return False
        for identity in moved:
            survivor.ids_of(identity[0]).add(identity[1])
            self.owner[identity] = survivor.id
            self.identities_changed.add(identity)
        survivor.user_count = survivor.count(USER) + loser.count(USER)
        survivor.anonymous_count = survivor.count(ANONYMOUS) + loser.count(ANONYMOUS)
        with_traits = verified or loser.verified or not survivor.verified
        if with_traits:
            assert loser.trait_count is not None and survivor.trait_count is not None
            for key, trait in loser.traits.items():
                if trait.beats(survivor.traits.get(key)):
                    survivor.traits[key] = trait
                    self.traits_changed.add((survivor.id, key))
            survivor.trait_count += loser.trait_count  # an upper bound: storage counts the keys
        survivor.verified = survivor.verified or loser.verified
        if loser.event_count:
            assert loser.first_seen is not None and loser.last_seen is not None
            survivor.seen(loser.first_seen, loser.event_count)
            survivor.seen(loser.last_seen, 0)
        del self.profiles[loser.id]
        self.merged[loser.id] = survivor.id
        self.carried_traits[loser.id] = with_traits
        if not loser.new:
            self.merges.append(Merge(loser.id, survivor.id, with_traits))
        self.profiles_changed.add(survivor.id)
        self.profiles_changed.discard(loser.id)
        self.traits_changed = {(p, key) for p, key in self.traits_changed if p != loser.id}
        what = f"merged in: {loser.count(USER)} user IDs, {loser.count(ANONYMOUS)} anonymous IDs"
        what += f", {loser.event_count} events"
        self.log.append(LogEntry(survivor.id, self._event_id, MERGED, moved, what, loser.id))
        return True
