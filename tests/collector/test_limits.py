"""Identity limits and the merge log (profiles.py rule 8, resolution.py's profile_log), one suite
for every backend (`db_url`), and the attacks they bound: a hub collecting anonymous IDs, a chain
of aliases in one batch, a trait bomb, a shared device flooding the log, blocked IDs."""

from __future__ import annotations

import typing

from starlette.testclient import TestClient

from visitrail.collector.app import create_app
from visitrail.collector.config import Config
from visitrail.collector.profiles import Limits
from visitrail.collector.storage import Storage

from .helpers import ADMIN_TOKEN, NOW, WRITE_KEY, admin, basic, message, run


async def profile_of(storage: Storage, **ids: str) -> dict[str, typing.Any]:
    profile = await storage.profile_of(**ids)
    assert profile is not None, ids
    return profile


def test_a_new_anonymous_id_past_the_limit_gets_a_profile_of_its_own(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        storage.limits = Limits(anonymous_ids=2, user_ids=10, traits=10)
        await storage.add([message(f"m{n}", userId="U", anonymousId=f"A{n}") for n in range(3)])
        user = await profile_of(storage, user_id="U")
        assert user["anonymousIds"] == ["A0", "A1"] and user["eventCount"] == 3  # the event is still U's
        own = await profile_of(storage, anonymous_id="A2")
        assert own["profileId"] != user["profileId"] and own["userIds"] == [] and own["eventCount"] == 0
        [entry] = await storage.profile_log(user["profileId"])
        assert entry["kind"] == "refused" and entry["messageId"] == "m2" and entry["writeKey"] == "wk"
        assert entry["ids"] == [{"kind": "anonymous", "value": "A2"}] and entry["otherProfileId"] == own["profileId"]
        assert "anonymous ID limit (2)" in entry["reason"]
        # Its own events go to its own profile from then on.
        await storage.add([message("m9", anonymousId="A2")])
        assert (await profile_of(storage, anonymous_id="A2"))["eventCount"] == 1

    run(db_url, scenario)


def test_a_merge_past_a_limit_is_refused_and_logged_on_both_sides(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        storage.limits = Limits(anonymous_ids=3, user_ids=10, traits=10)
        await storage.add([message("u1", userId="U", anonymousId="A1"), message("u2", userId="U", anonymousId="A2")])
        # Another user, with an anonymous ID of an alias: 1 user ID, 1 anonymous ID.
        await storage.add([message("v2", "alias", userId="B1", previousId="B2")])
        await storage.add([message("v3", anonymousId="B3")])
        await storage.add([message("link", userId="U", anonymousId="B3")])  # 2 + 1 fits
        user = await profile_of(storage, user_id="U")
        assert user["anonymousIds"] == ["A1", "A2", "B3"]
        [merged] = await storage.profile_log(user["profileId"])
        assert merged["kind"] == "merged" and merged["messageId"] == "link"
        assert merged["ids"] == [{"kind": "anonymous", "value": "B3"}]
        # A merge of an alias: U (3 anonymous IDs) and B1's profile (1 user ID, 1 anonymous ID): 4 > 3.
        await storage.add([message("too-many", "alias", userId="U", previousId="B1")])
        user, other = await profile_of(storage, user_id="U"), await profile_of(storage, user_id="B1")
        assert user["profileId"] != other["profileId"] and other["anonymousIds"] == ["B2"]
        for profile, peer in ((user, other), (other, user)):
            entry = (await storage.profile_log(profile["profileId"]))[0]
            assert entry["kind"] == "refused" and entry["messageId"] == "too-many"
            assert entry["otherProfileId"] == peer["profileId"] and "anonymous ID limit (3)" in entry["reason"]

    run(db_url, scenario)


def test_the_merge_log_follows_merges_and_lists_the_ids_that_moved(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add([message("a", anonymousId="phone"), message("b", userId="old", anonymousId="laptop")])
        await storage.add([message("c", userId="new", anonymousId="phone")])  # joins phone's anonymous profile
        await storage.add([message("d", "alias", userId="new", previousId="old")])
        profile = await profile_of(storage, user_id="new")
        assert profile["userIds"] == ["new", "old"] and profile["anonymousIds"] == ["laptop", "phone"]
        log = await storage.profile_log(profile["profileId"])
        assert [(e["kind"], e["messageId"]) for e in log] == [("merged", "d")]
        assert (
            log[0]["ids"] == [{"kind": "user", "value": "old"}]
            and "1 user IDs, 1 anonymous IDs, 1 events" in (log[0]["reason"])
        )
        # The loser's events are the survivor's: forwarded, not rewritten (an event is written once).
        events = await storage.profile_events(profile["profileId"])
        assert sorted(e["messageId"] for e in events) == ["a", "b", "c", "d"]
        assert await storage.profile(log[0]["otherProfileId"]) is None

    run(db_url, scenario)


def test_a_shared_device_is_logged_once_however_many_events_it_sends(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add([message("alice", "identify", userId="alice", anonymousId="shared")])
        for n in range(5):
            await storage.add([message(f"bob{n}", userId="bob", anonymousId="shared")])
        bob = await profile_of(storage, user_id="bob")
        [entry] = await storage.profile_log(bob["profileId"])
        assert entry["kind"] == "refused" and entry["messageId"] == "bob0" and "another user" in entry["reason"]
        assert bob["eventCount"] == 5 and bob["anonymousIds"] == []

    run(db_url, scenario)


def test_a_chain_of_aliases_in_one_batch_stops_at_the_user_id_limit(db_url: str) -> None:
    """The attack of issue 17: 2,499 chained aliases in one batch held the write path for seconds
    and poured every user into one profile. Now each merge is bounded, and the chain stops."""

    async def scenario(storage: Storage) -> None:
        storage.limits = Limits(anonymous_ids=1000, user_ids=10, traits=1000)
        chain = [message(f"c{n}", "alias", userId=f"u{n + 1}", previousId=f"u{n}") for n in range(2499)]
        seed = [message(f"s{n}", userId=f"u{n}") for n in range(2500)]
        added = await storage.add(seed + chain)
        assert added.inserted == 4999 and not added.refused
        biggest = await profile_of(storage, user_id="u9")
        assert len(biggest["userIds"]) == 10 and biggest["userIds"][0] == "u0"
        refused = [e for e in await storage.profile_log(biggest["profileId"], limit=1000) if e["kind"] == "refused"]
        assert refused and all("user ID limit (10)" in e["reason"] for e in refused)

    run(db_url, scenario)


def test_trait_keys_past_the_limit_are_not_set(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        storage.limits = Limits(anonymous_ids=10, user_ids=10, traits=5)
        bomb = {f"k{n:04d}": n for n in range(3000)}
        await storage.add([message("t1", "identify", userId="U", traits={"plan": "pro"})])
        await storage.add([message("t2", "identify", userId="U", traits={"plan": "team", **bomb})])
        profile = await profile_of(storage, user_id="U")
        assert len(profile["traits"]) == 5 and profile["traits"]["plan"] == "team"  # known keys still change
        [entry] = await storage.profile_log(profile["profileId"])
        assert entry["messageId"] == "t2" and "trait key limit (5): 2996 new keys not set" in entry["reason"]

    run(db_url, scenario)


def test_set_once_keys_are_trait_keys_for_the_limit(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        storage.limits = Limits(anonymous_ids=10, user_ids=10, traits=3)
        await storage.add([message("t1", "identify", userId="U", traits={"plan": "pro", "seats": 2})])
        await storage.add(
            [message("t2", "identify", userId="U", traitsOnce={"plan": "trial", "signup": 1, "ref": 1, "utm": 1})]
        )
        profile = await profile_of(storage, user_id="U")
        assert profile["traits"] == {"plan": "trial", "seats": 2, "signup": 1}  # a known key is still set once
        [entry] = await storage.profile_log(profile["profileId"])
        assert "trait key limit (3): 2 new keys not set: ref, utm" in entry["reason"]
        # A merge counts them too: 3 keys and 1 more of the other side's are past the limit.
        await storage.add([message("o1", "identify", anonymousId="A", traitsOnce={"other": 1})])
        await storage.add([message("o2", userId="U", anonymousId="A")])
        assert (await profile_of(storage, anonymous_id="A"))["profileId"] != profile["profileId"]

    run(db_url, scenario)


def test_limits_blocked_ids_and_the_log_through_the_collector(config: Config) -> None:
    config.max_anonymous_ids = 1
    config.blocked_ids = ("guest-0",)
    config.__post_init__()
    with TestClient(create_app(config, clock=lambda: NOW)) as client:
        blocked = client.post(
            "/v1/track", json={"event": "E", "anonymousId": "Guest-0 ", "messageId": "x"}, headers=basic(WRITE_KEY)
        )
        assert blocked.status_code == 400 and "blocked" in blocked.json()["message"], blocked.text
        batch = [{"type": "identify", "userId": "U", "anonymousId": f"A{n}", "messageId": f"m{n}"} for n in range(2)]
        assert client.post("/v1/batch", json={"batch": batch}, headers=basic(WRITE_KEY)).status_code == 200
        profile = client.get("/api/profiles/lookup", params={"userId": "U"}, headers=admin()).json()
        log = client.get(f"/api/profiles/{profile['profileId']}/log", headers=admin())
        assert log.status_code == 200
        [entry] = log.json()["log"]
        assert entry["messageId"] == "m1" and entry["ids"] == [{"kind": "anonymous", "value": "A1"}]
        assert client.get("/api/profiles/nope/log", headers=admin()).status_code == 404
        assert client.get(f"/api/profiles/{profile['profileId']}/log").status_code == 401
        assert client.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False).status_code == 303
        page = client.get(f"/profiles/{profile['profileId']}").text
        assert 'id="merge-log"' in page and "anonymous ID limit (1)" in page and "m1" in page
