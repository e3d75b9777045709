"""Identity resolution rules (profiles.py), on the in-memory graph alone."""

from __future__ import annotations

import json
import typing

from hypothesis import given, settings
from hypothesis import strategies as st

from visitrail.collector.profiles import ANONYMOUS, USER, Link, Trait, session_id_of

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


def test_an_event_naming_no_one_belongs_to_no_profile() -> None:
    assert Replay().send() is None


def test_link_from_row_reads_traits_and_previous_id_only_where_they_mean_something() -> None:
    body = json.dumps({"traits": {"a": 1}, "previousId": "P", "properties": {"x": 1}})
    assert Link.from_row(1, "identify", "t", "U", None, body).traits == {"a": 1}
    assert Link.from_row(1, "alias", "t", "U", None, body).previous_id == "P"
    group = Link.from_row(1, "group", "t", "U", None, body)  # group traits describe the group
    assert group.traits is None and group.previous_id is None


def test_session_id_of() -> None:
    assert (
        session_id_of({"context": {"sessionId": "s1"}, "integrations": {"Actions Amplitude": {"session_id": 5}}})
        == "s1"
    )
    assert session_id_of({"context": {}, "integrations": {"Actions Amplitude": {"session_id": 1764000000000}}}) == (
        "1764000000000"
    )
    empty: list[dict[str, typing.Any]] = [
        {},
        {"context": {"sessionId": ""}},
        {"context": {"sessionId": True}},
        {"context": {"sessionId": {}}},
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
def test_each_trait_is_the_newest_identify_of_the_profile(sent: list[dict[str, typing.Any]]) -> None:
    r = Replay()
    for message in sent:
        r.send(**message)
    events = r.event_profiles()
    for profile in r.graph.profiles.values():
        expected: dict[str, tuple[str, int, typing.Any]] = {}
        for number, message in enumerate(sent, 1):
            if events[number] == profile.id:
                for key, value in (message.get("traits") or {}).items():
                    expected[key] = max(expected.get(key, ("", 0, None)), (message["timestamp"], number, value))
        assert {k: t.value for k, t in profile.traits.items()} == {k: v for k, (_, _, v) in expected.items()}
