"""Identity resolution rules (profiles.py), on the in-memory graph alone."""

from __future__ import annotations

import json
import typing

from hypothesis import given, settings
from hypothesis import strategies as st

from visitrail.collector.profiles import ANONYMOUS, USER, Graph, Limits, Link, Trait, session_id_of

from .helpers import Replay, messages


def test_anonymous_browsing_then_identify_joins_one_profile() -> None:
    r = Replay()
    first = r.send(anonymousId="A1")
    r.send(anonymousId="A1")
    assert r.send("identify", userId="U1", anonymousId="A1") == first
    assert r.ids(USER, "U1") == (["U1"], ["A1"])
    assert set(r.event_profiles().values()) == {first}


def test_an_event_with_both_ids_merges_an_anonymous_profile_into_the_users() -> None:
    r = Replay()
    user_profile = r.send(userId="U1", anonymousId="A-laptop")
    phone = r.send(anonymousId="A-phone")
    assert r.send(userId="U1", anonymousId="A-phone") == user_profile
    assert r.ids(USER, "U1") == (["U1"], ["A-laptop", "A-phone"])
    assert phone not in r.graph.profiles and r.graph.merged == {phone: user_profile}
    assert set(r.event_profiles().values()) == {user_profile}  # the phone's earlier event moved too
    assert user_profile is not None and r.graph.profiles[user_profile].event_count == 3


def test_shared_device_never_merges_two_users() -> None:
    r = Replay()
    alice = r.send("identify", userId="alice", anonymousId="A-shared")
    bob = r.send("identify", userId="bob", anonymousId="A-shared")
    assert bob != alice
    assert r.ids(USER, "alice") == (["alice"], ["A-shared"])  # the device stays with its first user
    assert r.ids(USER, "bob") == (["bob"], [])
    assert r.event_profiles() == {1: alice, 2: bob}  # bob's event is bob's, whatever device sent it
    assert r.send(anonymousId="A-shared") == alice  # logged-out browsing there is still alice's
    # Bob already known elsewhere: still no merge.
    r.send(userId="bob", anonymousId="A-bob-phone")
    assert r.send(userId="bob", anonymousId="A-shared") == bob
    assert r.of(ANONYMOUS, "A-shared") == alice


def test_user_known_elsewhere_and_device_used_by_another_user() -> None:
    r = Replay()
    r.send(userId="alice", anonymousId="A1")
    bob = r.send(userId="bob", anonymousId="A2")
    assert r.send(userId="bob", anonymousId="A1") == bob
    assert r.of(ANONYMOUS, "A1") != bob


def test_alias_merges_previous_id_into_user_id() -> None:
    r = Replay()
    anonymous = r.send(anonymousId="A1")
    user = r.send(userId="U1")
    assert r.send("alias", userId="U1", previousId="A1") == user
    assert r.ids(USER, "U1") == (["U1"], ["A1"]) and anonymous not in r.graph.profiles


def test_alias_may_merge_two_identified_profiles() -> None:
    r = Replay()
    legacy = r.send("identify", userId="legacy-42", traits={"plan": "free"})
    new = r.send("identify", userId="user-123", anonymousId="A1", traits={"email": "x@example.com"})
    assert r.send("alias", userId="user-123", previousId="legacy-42") == new
    assert r.ids(USER, "user-123") == (["legacy-42", "user-123"], ["A1"])
    assert r.traits(USER, "legacy-42") == {"plan": "free", "email": "x@example.com"}
    assert legacy not in r.graph.profiles


def test_alias_with_an_unknown_previous_id_records_it_as_anonymous() -> None:
    r = Replay()
    user = r.send("alias", userId="U1", previousId="A-old", anonymousId="A-now")
    assert r.ids(USER, "U1") == (["U1"], ["A-now", "A-old"])
    assert r.send(anonymousId="A-old") == user


def test_alias_previous_id_is_looked_up_as_a_user_first() -> None:
    r = Replay()
    as_user = r.send(userId="X")
    r.send(anonymousId="X")  # the same string as an anonymousId: a different identity
    target = r.send(userId="U")
    r.send("alias", userId="U", previousId="X")
    assert r.of(USER, "X") == target and as_user not in r.graph.profiles
    assert r.of(ANONYMOUS, "X") != target


def test_traits_merge_per_key_by_timestamp() -> None:
    r = Replay()
    r.send("identify", "2026-01-02T00:00:00.000Z", userId="U1", traits={"plan": "pro", "email": "new@x"})
    # A late identify, sent before the one above: only its keys nobody wrote later count.
    r.send("identify", "2026-01-01T00:00:00.000Z", userId="U1", traits={"plan": "free", "name": "Ann"})
    assert r.traits(USER, "U1") == {"plan": "pro", "email": "new@x", "name": "Ann"}
    r.send("identify", "2026-01-03T00:00:00.000Z", userId="U1", traits={"plan": None})
    assert r.traits(USER, "U1")["plan"] is None  # null is a value like any other


def test_equal_timestamps_go_to_the_later_event() -> None:
    r = Replay()
    r.send("identify", userId="U1", traits={"plan": "a"})
    r.send("identify", userId="U1", traits={"plan": "b"})
    assert r.traits(USER, "U1") == {"plan": "b"}


def test_merged_traits_keep_the_newest_value_per_key() -> None:
    r = Replay()
    r.send("identify", "2026-01-05T00:00:00.000Z", anonymousId="A1", traits={"theme": "dark", "plan": "trial"})
    r.send("identify", "2026-01-01T00:00:00.000Z", userId="U1", traits={"theme": "light", "email": "u@x"})
    r.send("track", "2026-01-06T00:00:00.000Z", userId="U1", anonymousId="A1")  # merges A1 into U1
    assert r.traits(USER, "U1") == {"theme": "dark", "plan": "trial", "email": "u@x"}
    profile = r.graph.profiles[r.of(USER, "U1")]
    assert profile.traits["theme"] == Trait("dark", "2026-01-05T00:00:00.000Z", 1)
    assert (profile.first_seen, profile.last_seen) == ("2026-01-01T00:00:00.000Z", "2026-01-06T00:00:00.000Z")


def test_set_once_traits_keep_the_earliest_value_whatever_arrives_later() -> None:
    r = Replay()
    r.send("identify", "2026-01-05T00:00:00.000Z", userId="U1", traitsOnce={"signup": "jan-5", "ref": "ad"})
    r.send("identify", "2026-01-09T00:00:00.000Z", userId="U1", traitsOnce={"signup": "jan-9"})
    # Sent before both, arriving last (an offline queue): earlier, so it wins.
    r.send("identify", "2026-01-02T00:00:00.000Z", userId="U1", traitsOnce={"signup": "jan-2"})
    assert r.traits(USER, "U1") == {"signup": "jan-2", "ref": "ad"}
    profile = r.graph.profiles[r.of(USER, "U1")]
    assert profile.traits["signup"] == Trait("jan-2", "2026-01-02T00:00:00.000Z", 3, once=True)
    # On a tie, the event that arrived first.
    r.send("identify", "2026-01-02T00:00:00.000Z", userId="U1", traitsOnce={"signup": "tie"})
    assert r.traits(USER, "U1")["signup"] == "jan-2"


def test_a_regular_trait_never_replaces_a_set_once_one_and_set_once_outranks_regular() -> None:
    r = Replay()
    r.send("identify", "2026-01-01T00:00:00.000Z", userId="U1", traits={"plan": "free", "theme": "dark"})
    r.send("identify", "2026-01-03T00:00:00.000Z", userId="U1", traitsOnce={"plan": "trial"})
    r.send("identify", "2026-01-05T00:00:00.000Z", userId="U1", traits={"plan": "pro", "theme": "light"})
    assert r.traits(USER, "U1") == {"plan": "trial", "theme": "light"}
    # The same in the other arrival order: the rule never asks which came first.
    r2 = Replay()
    r2.send("identify", "2026-01-05T00:00:00.000Z", userId="U1", traits={"plan": "pro", "theme": "light"})
    r2.send("identify", "2026-01-03T00:00:00.000Z", userId="U1", traitsOnce={"plan": "trial"})
    r2.send("identify", "2026-01-01T00:00:00.000Z", userId="U1", traits={"plan": "free", "theme": "dark"})
    assert r2.traits(USER, "U1") == r.traits(USER, "U1")
    # One identify setting a key both ways: set once.
    r.send("identify", userId="U2", traits={"k": "regular"}, traitsOnce={"k": "once"})
    assert r.traits(USER, "U2") == {"k": "once"}


def test_a_merge_keeps_the_earliest_set_once_value_of_either_profile() -> None:
    r = Replay()
    r.send("identify", "2026-01-05T00:00:00.000Z", anonymousId="laptop", traitsOnce={"signup": "laptop"})
    r.send("identify", "2026-01-06T00:00:00.000Z", userId="U1", anonymousId="laptop")
    # The phone's identify arrives later, but was made earlier (offline): it is the first value.
    r.send("identify", "2026-01-01T00:00:00.000Z", anonymousId="phone", traitsOnce={"signup": "phone"},
           traits={"signup": "regular"})  # fmt: skip
    r.send("track", "2026-01-07T00:00:00.000Z", userId="U1", anonymousId="phone")  # merges the phone in
    assert r.traits(USER, "U1") == {"signup": "phone"}
    # The other way round: the survivor holds the earlier value.
    r.send("identify", "2026-01-01T00:00:00.000Z", userId="U2", traitsOnce={"first": "u2"})
    r.send("identify", "2026-01-04T00:00:00.000Z", anonymousId="tablet", traitsOnce={"first": "tablet"})
    r.send("track", userId="U2", anonymousId="tablet")
    assert r.traits(USER, "U2") == {"first": "u2"}


def test_a_verified_profile_takes_set_once_traits_only_from_verified_events() -> None:
    graph = Graph()
    graph.apply(Link(1, "identify", "2026-01-05T00:00:00.000Z", "U1", verified=True, traits_once={"signup": "real"}))
    graph.apply(Link(2, "identify", "2026-01-01T00:00:00.000Z", "U1", traits_once={"signup": "forged", "x": 1}))
    profile = graph.profile_of((USER, "U1"))
    assert profile is not None and {k: t.value for k, t in profile.traits.items()} == {"signup": "real"}
    graph.apply(Link(3, "identify", "2026-01-02T00:00:00.000Z", "U1", verified=True, traits_once={"signup": "older"}))
    assert profile.traits["signup"].value == "older"


def test_set_once_keys_count_against_the_trait_key_limit() -> None:
    graph = Graph(limits=Limits(traits=3))
    graph.apply(Link(1, "identify", "2026-01-01T00:00:00.000Z", "U1", traits={"a": 1, "b": 1}))
    graph.apply(
        Link(
            2,
            "identify",
            "2026-01-02T00:00:00.000Z",
            "U1",
            traits={"b": 2},
            traits_once={"b": 0, "c": 1, "d": 1, "e": 1},
        )
    )
    profile = graph.profile_of((USER, "U1"))
    assert profile is not None and profile.trait_count == 3
    assert {k: (t.value, t.once) for k, t in profile.traits.items()} == {
        "a": (1, False),
        "b": (0, True),
        "c": (1, True),
    }
    [entry] = graph.log
    assert "trait key limit (3): 2 new keys not set: d, e" in entry.reason


def test_an_event_naming_no_one_belongs_to_no_profile() -> None:
    assert Replay().send() is None


def test_link_from_row_reads_traits_and_previous_id_only_where_they_mean_something() -> None:
    body = json.dumps({"traits": {"a": 1}, "previousId": "P", "properties": {"x": 1}})
    assert Link.from_row(1, "identify", "t", "U", None, body).traits == {"a": 1}
    assert Link.from_row(1, "alias", "t", "U", None, body).previous_id == "P"
    group = Link.from_row(1, "group", "t", "U", None, body)  # group traits describe the group
    assert group.traits is None and group.previous_id is None
    once = json.dumps({"traits": {"a": 1}, "context": {"traitsOnce": {"b": 2}, "sessionId": "s"}})
    assert Link.from_row(1, "identify", "t", "U", None, once).traits_once == {"b": 2}
    assert Link.from_row(1, "track", "t", "U", None, once).traits_once is None
    for context in ({"traitsOnce": "x"}, {"traitsOnce": None}, "x", None):
        assert Link.from_row(1, "identify", "t", "U", None, json.dumps({"context": context})).traits_once is None


def test_session_id_of() -> None:
    assert (
        session_id_of({"context": {"sessionId": "s1"}, "integrations": {"Actions Amplitude": {"session_id": 5}}})
        == "s1"
    )
    amplitude = {"context": {}, "integrations": {"Actions Amplitude": {"session_id": 1764000000000}}}
    assert session_id_of({**amplitude, "anonymousId": "A1"}) == "1764000000000:A1"  # the device's session
    assert session_id_of({**amplitude, "userId": 42}) == "1764000000000:42"
    assert session_id_of(amplitude) is None  # no device to scope it by
    empty: list[dict[str, typing.Any]] = [
        {},
        {"context": {"sessionId": ""}},
        {"context": {"sessionId": True}},
        {"context": {"sessionId": {}}},
        {"context": {"sessionId": "   "}},
        {"anonymousId": "A1", "integrations": {"Actions Amplitude": {"session_id": " "}}},
    ]
    for body in empty:
        assert session_id_of(body) is None


# Properties over random histories


def check_invariants(r: Replay, sent: list[dict[str, typing.Any]]) -> None:
    graph = r.graph
    owners: dict[tuple[str, str], str] = {}
    for profile in graph.profiles.values():
        for identity in profile.identities():
            assert identity not in owners, f"{identity} is in two profiles"
            owners[identity] = profile.id
    assert owners == graph.owner
    events = r.event_profiles()
    assert set(events) == set(range(1, len(sent) + 1))  # every event in exactly one living profile
    assert set(events.values()) == set(graph.profiles)  # and no profile without an event
    for profile in graph.profiles.values():
        assert profile.event_count == sum(1 for p in events.values() if p == profile.id)
    for number, message in enumerate(sent, 1):
        if message.get("userId"):
            assert events[number] == graph.owner[(USER, message["userId"])]


@settings(max_examples=300, deadline=None)
@given(st.lists(messages(), max_size=25))
def test_every_id_and_event_is_in_exactly_one_profile(sent: list[dict[str, typing.Any]]) -> None:
    r = Replay()
    for message in sent:
        r.send(**message)
    check_invariants(r, sent)


@settings(max_examples=300, deadline=None)
@given(st.lists(messages(alias=False), max_size=25))
def test_without_alias_no_profile_has_two_users(sent: list[dict[str, typing.Any]]) -> None:
    r = Replay()
    for message in sent:
        r.send(**message)
    check_invariants(r, sent)
    assert all(len(p.user_ids) <= 1 for p in r.graph.profiles.values())


@settings(max_examples=200, deadline=None)
@given(st.lists(messages(), max_size=25))
def test_each_trait_is_the_newest_identify_of_the_profile_or_its_earliest_set_once(
    sent: list[dict[str, typing.Any]],
) -> None:
    r = Replay()
    for message in sent:
        r.send(**message)
    events = r.event_profiles()
    for profile in r.graph.profiles.values():
        newest: dict[str, tuple[str, int, typing.Any]] = {}
        earliest: dict[str, tuple[str, int, typing.Any]] = {}
        for number, message in enumerate(sent, 1):
            if events[number] == profile.id:
                for key, value in (message.get("traits") or {}).items():
                    newest[key] = max(newest.get(key, ("", 0, None)), (message["timestamp"], number, value))
                for key, value in (message.get("traitsOnce") or {}).items():
                    earliest[key] = min(earliest.get(key, ("~", 0, None)), (message["timestamp"], number, value))
        expected = {k: v for k, (_, _, v) in newest.items()} | {k: v for k, (_, _, v) in earliest.items()}
        assert {k: t.value for k, t in profile.traits.items()} == expected
        assert {k for k, t in profile.traits.items() if t.once} == set(earliest)


ONCE_TIMES = [f"2026-01-0{d}T00:00:00.000Z" for d in range(1, 10)]


@st.composite
def devices_history(draw: st.DrawFn) -> list[dict[str, typing.Any]]:
    """Identifies with set-once and regular traits from two devices, each at its own time, and the
    events that tie both devices to one user, in some order."""
    times = draw(st.permutations(ONCE_TIMES))
    sent = []
    for n, time in enumerate(times[:6]):
        message: dict[str, typing.Any] = {"type": "identify", "timestamp": time, "anonymousId": f"a{n % 2}"}
        message["traits"] = draw(st.dictionaries(st.sampled_from(["plan", "seats"]), st.integers(0, 9), max_size=2))
        message["traitsOnce"] = draw(st.dictionaries(st.sampled_from(["signup", "plan"]), st.integers(0, 9)))
        sent.append(message)
    sent += [{"type": "track", "timestamp": times[6 + n], "userId": "U", "anonymousId": f"a{n}"} for n in range(2)]
    return draw(st.permutations(sent))


@settings(max_examples=200, deadline=None)
@given(devices_history(), st.randoms(use_true_random=False))
def test_set_once_traits_across_devices_are_the_same_whatever_the_arrival_order(
    sent: list[dict[str, typing.Any]], random: typing.Any
) -> None:
    def resolved(order: list[dict[str, typing.Any]]) -> dict[str, tuple[typing.Any, bool]]:
        r = Replay()
        for message in order:
            r.send(**message)
        profile = r.graph.profiles[r.of(USER, "U")]
        assert profile.anonymous_ids == {"a0", "a1"}
        return {k: (t.value, t.once) for k, t in profile.traits.items()}

    shuffled = list(sent)
    random.shuffle(shuffled)
    result = resolved(sent)
    assert resolved(shuffled) == result
    by_time = sorted((m for m in sent if m["type"] == "identify"), key=lambda m: m["timestamp"])
    for key in {k for m in by_time for k in m["traitsOnce"]}:  # the earliest value set once, on any device
        assert result[key] == (next(m["traitsOnce"][key] for m in by_time if key in m["traitsOnce"]), True)
