"""Signed identity through the tracking API (identity.py): open, verified and required sources."""

from __future__ import annotations

import json
import pathlib
import sqlite3
import time
import typing

import hypothesis
import jwt
import pytest
from hypothesis import strategies as st
from starlette.testclient import TestClient

from visitrail.collector.config import Config, Source
from visitrail.collector.profiles import Graph, Link
from visitrail.collector.storage import Storage
from visitrail.collector.tokens import issue_identity_token

from .helpers import (
    ADMIN_TOKEN,
    AUDIENCE,
    NEWEST,
    ORIGIN,
    SECRET,
    V1_SCHEMA,
    WRITE_KEY,
    admin,
    basic,
    message,
    messages,
    run,
    stored,
    token,
)

VERIFIED_KEY = "wk_verified"
REQUIRED_KEY = "wk_required"


@pytest.fixture
def config(tmp_path: pathlib.Path) -> Config:
    return Config(
        sources=[
            Source(WRITE_KEY, (ORIGIN,)),
            Source(VERIFIED_KEY, (ORIGIN,), identity="verified", identity_secret=SECRET),
            Source(REQUIRED_KEY, (ORIGIN,), identity="required", identity_secret=SECRET),
        ],
        admin_token=ADMIN_TOKEN,
        db_url="sqlite:///:memory:",
        assets_dir=str(tmp_path / "assets"),
    )


def expired(uid: str = "U1") -> str:
    return issue_identity_token(SECRET, uid, 3600, now=time.time() - 7200, audience=AUDIENCE)


def identify(n: int, user_id: str = "U1", identity_token: str | None = None, **traits: typing.Any) -> dict:
    context = {"identityToken": identity_token} if identity_token is not None else {}
    return {"type": "identify", "userId": user_id, "anonymousId": "A1", "messageId": f"i{n}", "traits": traits,
            "context": context, "timestamp": f"2026-11-25T11:00:{n:02}.000Z"}  # fmt: skip


def anonymous(n: int) -> dict:
    return {"type": "track", "event": f"E{n}", "anonymousId": "A1", "messageId": f"a{n}"}


def batch(client: TestClient, key: str, *messages: dict, **body: typing.Any) -> typing.Any:
    return client.post("/v1/batch", json={"batch": list(messages), **body}, headers=basic(key))


def profile(client: TestClient, user_id: str = "U1") -> dict[str, typing.Any]:
    response = client.get("/api/profiles/lookup", params={"userId": user_id}, headers=admin())
    assert response.status_code == 200, response.text
    return typing.cast(dict[str, typing.Any], response.json())


# verified


def test_a_token_from_the_helper_makes_the_profile_verified(client: TestClient) -> None:
    response = batch(client, VERIFIED_KEY, identify(1, identity_token=token(), plan="pro"))
    assert response.json() == {"success": True}
    found = profile(client)
    assert found["verified"] is True and found["traits"] == {"plan": "pro"}
    [event] = stored(client, userId="U1")
    assert "identityToken" not in event["context"]  # a credential is never stored


def test_tokens_are_never_stored_nor_verify_anything_in_open_mode(client: TestClient) -> None:
    message = identify(1, identity_token=token(), plan="pro")
    assert batch(client, WRITE_KEY, message, context={"identityToken": token()}).json() == {"success": True}
    assert client.post("/v1/identify", json={**identify(2), "context": {"identityToken": "junk"}},
                       headers=basic(WRITE_KEY)).status_code == 200  # fmt: skip
    assert all("identityToken" not in e["context"] for e in stored(client))
    assert profile(client)["verified"] is False


def test_a_batch_level_token_counts_and_is_stripped(client: TestClient) -> None:
    assert batch(client, VERIFIED_KEY, identify(1), context={"identityToken": token()}).json() == {"success": True}
    assert profile(client)["verified"] is True
    assert "identityToken" not in stored(client)[0]["context"]


def test_once_verified_only_verified_identifies_change_traits(client: TestClient) -> None:
    batch(client, VERIFIED_KEY, identify(1, identity_token=token(), plan="pro"))
    # No token, and a forged one: stored, unverified, and their traits don't apply.
    batch(client, VERIFIED_KEY, identify(2, plan="free", admin=True))
    forged = jwt.encode({"uid": "U1", "kind": "USER", "iat": 1, "exp": 2**40}, "x" * 32, algorithm="HS256")
    response = batch(client, VERIFIED_KEY, anonymous(1), identify(3, identity_token=forged, plan="hacked"))
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "unverified": [{"index": 1, "reason": "identity token signature is invalid"}],
    }
    assert len(stored(client)) == 4
    assert profile(client)["traits"] == {"plan": "pro"}
    batch(client, VERIFIED_KEY, identify(4, identity_token=token(), plan="team"))
    assert profile(client)["traits"] == {"plan": "team"}


def test_unverified_traits_before_verification_stay(client: TestClient) -> None:
    batch(client, VERIFIED_KEY, identify(1, plan="free", name="Ann"))
    batch(client, VERIFIED_KEY, identify(2, identity_token=token(), plan="pro"))
    found = profile(client)
    assert found["verified"] is True and found["traits"] == {"plan": "pro", "name": "Ann"}


def test_verified_mode_invalid_token_keeps_anonymous_events_flowing(client: TestClient) -> None:
    response = batch(client, VERIFIED_KEY, anonymous(1), identify(1, identity_token=expired()), anonymous(2))
    assert response.json()["unverified"] == [{"index": 1, "reason": "identity token expired"}]
    assert [e["messageId"] for e in stored(client)] == ["a1", "i1", "a2"]
    assert profile(client)["verified"] is False


# required


def test_required_refuses_a_forged_identify(client: TestClient) -> None:
    forged = issue_identity_token("another-site-secret-0123456789abcdef", "U1", 3600, audience=AUDIENCE)
    headers = {**basic(REQUIRED_KEY), "Origin": ORIGIN}
    response = client.post("/v1/identify", json=identify(1, identity_token=forged, plan="pro"), headers=headers)
    assert response.status_code == 401
    reason = "identity token signature is invalid"
    assert response.json() == {"code": "identity_token", "error": reason, "message": reason}
    assert response.headers["access-control-allow-origin"] == ORIGIN  # the SDK can read why
    assert stored(client) == []
    missing = client.post("/v1/identify", json=identify(2), headers=basic(REQUIRED_KEY))
    assert missing.status_code == 401 and missing.json()["error"] == "identity token is missing"
    assert client.get("/api/profiles/lookup", params={"userId": "U1"}, headers=admin()).status_code == 404


@pytest.mark.parametrize(
    "bad_token, reason",
    [
        (expired, "identity token expired"),
        (lambda: token("U2"), "identity token is for another user"),
        (lambda: jwt.encode({"uid": "U1", "kind": "ADMIN", "aud": AUDIENCE, "iat": int(time.time()),
                             "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),
         "identity token kind must be USER"),
        (lambda: issue_identity_token("z" * 40, "U1", 60, audience=AUDIENCE), "identity token signature is invalid"),
        (lambda: "abc.def.ghi", "identity token is malformed"),
    ],
    ids=["expired", "wrong-uid", "wrong-kind", "wrong-signature", "malformed"],
)  # fmt: skip
def test_required_single_calls_name_the_reason(
    client: TestClient, bad_token: typing.Callable[[], str], reason: str
) -> None:
    response = client.post("/v1/track", json={"event": "E", "userId": "U1", "context": {"identityToken": bad_token()}},
                           headers=basic(REQUIRED_KEY))  # fmt: skip
    assert response.status_code == 401
    assert response.json() == {"code": "identity_token", "error": reason, "message": reason}
    assert stored(client) == []


def test_required_batch_stores_everything_but_the_events_lacking_a_valid_token(client: TestClient) -> None:
    response = batch(
        client,
        REQUIRED_KEY,
        anonymous(1),
        identify(1, identity_token=expired(), plan="pro"),
        {"type": "track", "event": "Paid", "userId": "U1", "messageId": "t1", "context": {"identityToken": token()}},
        {"type": "page", "userId": "U2", "anonymousId": "A2", "messageId": "p1"},
        anonymous(2),
    )
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "rejected": [
            {"index": 1, "reason": "identity token expired"},
            {"index": 3, "reason": "identity token is missing"},
        ],
    }
    assert [e["messageId"] for e in stored(client)] == ["a1", "t1", "a2"]
    assert profile(client)["verified"] is True


def test_required_anonymous_calls_need_no_token(client: TestClient) -> None:
    response = client.post("/v1/track", json={"event": "E", "anonymousId": "A1"}, headers=basic(REQUIRED_KEY))
    assert response.status_code == 200 and response.json() == {"success": True}


def test_invalid_messages_still_reject_the_whole_batch_first(client: TestClient) -> None:
    response = batch(client, REQUIRED_KEY, anonymous(1), identify(1, identity_token=expired()), {"type": "track"})
    assert response.status_code == 400 and response.json()["errors"][0]["index"] == 2
    assert stored(client) == []


def test_the_dashboard_shows_verified_profiles(client: TestClient) -> None:
    batch(client, VERIFIED_KEY, identify(1, identity_token=token(), plan="pro"))
    batch(client, VERIFIED_KEY, identify(2, user_id="U2", plan="free"))
    client.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
    assert 'id="verified"' in client.get(f"/profiles/{profile(client)['profileId']}").text
    assert 'id="verified"' not in client.get(f"/profiles/{profile(client, 'U2')['profileId']}").text
    assert client.get("/profiles").text.count('class="verified"') == 1


def test_sources_check_their_identity_settings() -> None:
    with pytest.raises(ValueError, match="needs an identity secret"):
        Source("k", identity="required")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Source("k", identity="verified", identity_secret="short")
    with pytest.raises(ValueError, match="identity must be one of"):
        Source("k", identity="strict", identity_secret=SECRET)
    assert "identity_secret" not in repr(Source("k", identity="verified", identity_secret=SECRET))


# Rule 6 on the graph, and in storage: live and rebuilt agree


def link(n: int, type: str = "identify", verified: bool = False, **fields: typing.Any) -> Link:
    return Link(n, type, f"2026-01-01T00:00:{n:02}.000Z", fields.get("user_id"), fields.get("anonymous_id"),
                fields.get("previous_id"), fields.get("traits"), verified,
                fields.get("previous_verified", False))  # fmt: skip


def test_an_unverified_merge_into_a_verified_profile_brings_no_traits() -> None:
    graph = Graph()
    graph.apply(link(1, verified=True, user_id="U1", traits={"plan": "pro"}))
    graph.apply(link(2, anonymous_id="A9", traits={"plan": "hacked", "x": 1}))  # anonymous traits
    merged = graph.apply(link(3, "track", user_id="U1", anonymous_id="A9"))  # unverified: A9 merges in
    assert merged is not None and merged.anonymous_ids == {"A9"} and merged.verified
    assert {k: t.value for k, t in merged.traits.items()} == {"plan": "pro"}
    graph.apply(link(4, anonymous_id="A8", traits={"y": 2}))
    again = graph.apply(link(5, "track", verified=True, user_id="U1", anonymous_id="A8"))  # verified: they come
    assert again is not None and {k: t.value for k, t in again.traits.items()} == {"plan": "pro", "y": 2}


def test_a_merge_keeps_verification() -> None:
    graph = Graph()
    graph.apply(link(1, verified=True, user_id="U1"))
    proven = link(2, "alias", verified=True, user_id="U2", previous_id="U1", previous_verified=True)
    assert graph.refusal(proven) is None
    survivor = graph.apply(proven)
    assert survivor is not None and survivor.user_ids == {"U1", "U2"} and survivor.verified


@pytest.mark.parametrize("verified, previous_verified", [(False, False), (True, False), (False, True)])
def test_rule_7_a_verified_profile_merges_only_with_both_proofs(verified: bool, previous_verified: bool) -> None:
    graph = Graph()
    graph.apply(link(1, verified=True, user_id="U1", traits={"plan": "pro"}))
    alias = link(2, "alias", verified, user_id="U2", previous_id="U1", previous_verified=previous_verified)
    assert graph.refusal(alias) is not None
    # A rebuild meeting it (stored by an older collector) links its own IDs and merges nothing.
    survivor = graph.apply(alias)
    assert survivor is not None and survivor.user_ids == {"U2"}
    assert graph.profile_of(("user", "U1")) is not survivor


def test_rule_7_another_user_into_a_verified_profile_needs_its_proof() -> None:
    graph = Graph()
    graph.apply(link(1, verified=True, user_id="U1"))
    graph.apply(link(2, user_id="U2"))
    assert graph.refusal(link(3, "alias", user_id="U1", previous_id="U2")) is not None
    assert graph.refusal(link(3, "alias", verified=True, user_id="U1", previous_id="U2")) is None
    # A visitor (an anonymous-only profile) needs no proof: rule 2 would link it anyway.
    graph.apply(link(4, "track", anonymous_id="A9"))
    assert graph.refusal(link(5, "alias", user_id="U1", previous_id="A9")) is None


def test_verification_is_stored_and_rebuilt_alike(db_url: str) -> None:
    import dataclasses

    events = [
        message("m1", "identify", userId="U1", anonymousId="A1", traits={"plan": "free"}),
        dataclasses.replace(message("m2", "identify", userId="U1", traits={"plan": "pro"}), verified=True),
        message("m3", "identify", userId="U1", traits={"plan": "hacked"}, timestamp="2026-11-25T13:00:00.000Z"),
    ]

    async def scenario(storage: Storage) -> None:
        await storage.add(events)
        live = await storage.profile(typing.cast(str, await storage.find_profile(user_id="U1")))
        assert live is not None and live["verified"] is True and live["traits"] == {"plan": "pro"}
        await storage.rebuild_profiles()
        rebuilt = await storage.profile(typing.cast(str, await storage.find_profile(user_id="U1")))
        assert rebuilt is not None
        assert {**rebuilt, "profileId": None} == {**live, "profileId": None}

    run(db_url, scenario)


def test_migration_strips_tokens_stored_by_older_collectors(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "old.db"
    old = message("m1", "identify", userId="U1", anonymousId="A1", traits={"plan": "pro"})
    body = old.body.replace('"type"', '"context": {"identityToken": "eyJ.secret.token", "locale": "fr"}, "type"', 1)
    with sqlite3.connect(path) as connection:  # a database written before schema versions and tokens
        connection.executescript(V1_SCHEMA)
        connection.execute(
            "INSERT INTO events (write_key, message_id, type, anonymous_id, user_id, event, timestamp, "
            "received_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (old.write_key, old.message_id, old.type, old.anonymous_id, old.user_id, old.event, old.timestamp,
             old.received_at, body),
        )  # fmt: skip
    connection.close()

    async def scenario(storage: Storage) -> None:
        [event] = await storage.find()
        assert event["context"] == {"locale": "fr"}
        found = await storage.profile(typing.cast(str, await storage.find_profile(user_id="U1")))
        assert found is not None and found["traits"] == {"plan": "pro"} and found["verified"] is False

    run(f"sqlite:///{path}", scenario)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(NEWEST,)]
        assert "eyJ" not in connection.execute("SELECT body FROM events").fetchone()[0]
    connection.close()


def test_an_unverified_identify_dated_9999_does_not_outlive_a_verified_one(client: TestClient) -> None:
    pinned = {**identify(1, plan="pinned"), "timestamp": "9999-12-31T23:59:59.999Z"}
    batch(client, VERIFIED_KEY, pinned)
    batch(client, VERIFIED_KEY, {**identify(2, identity_token=token(), plan="pro"), "timestamp": None})
    assert profile(client)["traits"] == {"plan": "pro"} and profile(client)["verified"] is True


# Rule 7: alias can't walk around the identity modes (issue 16)


def sign_in(client: TestClient, key: str, user_id: str, **traits: typing.Any) -> None:
    message = {**identify(0, user_id, token(user_id), **traits), "messageId": f"in-{user_id}-{key}"}
    assert batch(client, key, message).json() == {"success": True}
    assert profile(client, user_id)["verified"] is True


def alias(user_id: str, previous_id: str, n: int = 1, **context: str) -> dict[str, typing.Any]:
    return {"type": "alias", "userId": user_id, "previousId": previous_id, "anonymousId": "x", "messageId": f"al{n}",
            "context": context}  # fmt: skip


def apart(client: TestClient, *user_ids: str) -> None:
    """Each of these users still has a profile of their own, verified, with their own traits."""
    found = [profile(client, user_id) for user_id in user_ids]
    assert len({p["profileId"] for p in found}) == len(user_ids)
    assert all(p["verified"] and p["userIds"] == [u] for p, u in zip(found, user_ids, strict=True))


def test_verified_mode_a_tokenless_alias_cant_merge_two_verified_users(client: TestClient) -> None:
    sign_in(client, VERIFIED_KEY, "victim1", plan="pro")
    sign_in(client, VERIFIED_KEY, "victim2", plan="free", email="v2@example.com")
    response = batch(client, VERIFIED_KEY, alias("victim1", "victim2"), anonymous(1))
    assert response.status_code == 200
    [refused] = response.json()["rejected"]
    assert refused["index"] == 0 and "verified profile" in refused["reason"]
    single = client.post("/v1/alias", json=alias("victim1", "victim2", 2), headers=basic(VERIFIED_KEY))
    assert single.status_code == 403 and single.json()["code"] == "identity_proof"
    apart(client, "victim1", "victim2")
    assert profile(client, "victim1")["traits"] == {"plan": "pro"}
    assert [e["messageId"] for e in stored(client, anonymousId="x")] == []  # the refused aliases: not stored
    assert [e["messageId"] for e in stored(client, anonymousId="A1") if e["type"] == "track"] == ["a1"]


def test_required_mode_a_user_cant_alias_another_user_into_her_profile(client: TestClient) -> None:
    sign_in(client, REQUIRED_KEY, "victim1", plan="pro")
    sign_in(client, REQUIRED_KEY, "mallory")
    own = {"identityToken": token("mallory")}
    single = client.post("/v1/alias", json=alias("mallory", "victim1", **own), headers=basic(REQUIRED_KEY))
    assert single.status_code == 403 and "previousIdentityToken" in single.json()["error"]
    refused = batch(client, REQUIRED_KEY, alias("mallory", "victim1", 2, **own)).json()
    assert refused["rejected"][0]["index"] == 0
    # Someone else's token as proof of the previous ID doesn't do either.
    wrong = batch(client, REQUIRED_KEY, alias("mallory", "victim1", 3, **own, previousIdentityToken=token("mallory")))
    assert wrong.json()["rejected"] == [{"index": 0, "reason": "previous identity token is for another user"}]
    apart(client, "victim1", "mallory")
    # So erasing her profile erases only her.
    client.delete(f"/api/profiles/{profile(client, 'mallory')['profileId']}", headers=admin())
    assert profile(client, "victim1")["traits"] == {"plan": "pro"}


def test_required_mode_the_same_alias_through_a_beacon_is_refused(client: TestClient) -> None:
    sign_in(client, REQUIRED_KEY, "victim1", plan="pro")
    sign_in(client, REQUIRED_KEY, "mallory")
    beacon = {"writeKey": REQUIRED_KEY, "anonymousId": "x", "userId": "mallory", "identityToken": token("mallory"),
              "sentAt": "2026-11-25T12:00:00.500Z",
              "calls": [["alias", ["mallory", "victim1"], 1764072000000, "c1", None],
                        ["track", ["After"], 1764072000001, "c2", None]]}  # fmt: skip
    response = client.post("/v1/calls", content=json.dumps(beacon), headers={"Content-Type": "text/plain"})
    assert response.status_code == 200
    assert [entry["index"] for entry in response.json()["rejected"]] == [0]
    assert [e["messageId"] for e in stored(client, userId="mallory") if e["type"] != "identify"] == ["c2"]
    apart(client, "victim1", "mallory")


def test_an_open_source_cant_reach_a_profile_a_stricter_source_protects(client: TestClient) -> None:
    sign_in(client, REQUIRED_KEY, "victim1", plan="pro")
    for n, sent in enumerate([alias("attacker", "victim1"), alias("victim1", "attacker")]):
        batch(client, WRITE_KEY, {"type": "identify", "userId": "attacker", "messageId": f"at{n}"})
        response = batch(client, WRITE_KEY, {**sent, "messageId": f"open{n}"})
        assert response.json()["rejected"][0]["index"] == 0, sent
    # Tokens in an open source prove nothing: the same alias with both still can't.
    proof = {"identityToken": token("victim1"), "previousIdentityToken": token("attacker")}
    assert batch(client, WRITE_KEY, alias("victim1", "attacker", 9, **proof)).json()["rejected"]
    assert profile(client, "victim1")["userIds"] == ["victim1"]
    assert profile(client, "victim1")["traits"] == {"plan": "pro"}


def test_an_alias_with_both_proofs_merges_and_stores_neither_token(client: TestClient) -> None:
    sign_in(client, VERIFIED_KEY, "old-id", plan="pro")
    proof = {"identityToken": token("new-id"), "previousIdentityToken": token("old-id")}
    assert batch(client, VERIFIED_KEY, alias("new-id", "old-id", **proof)).json() == {"success": True}
    merged = profile(client, "new-id")
    assert merged["userIds"] == ["new-id", "old-id"] and merged["verified"] and merged["traits"] == {"plan": "pro"}
    [event] = [e for e in stored(client) if e["type"] == "alias"]
    assert event["context"] == {}  # credentials are never stored
    assert batch(client, VERIFIED_KEY, anonymous(5)).json() == {"success": True}


def test_aliasing_a_visitor_needs_no_proof(client: TestClient) -> None:
    sign_in(client, REQUIRED_KEY, "U1")
    batch(client, REQUIRED_KEY, anonymous(1) | {"anonymousId": "A9"})
    response = batch(client, REQUIRED_KEY, alias("U1", "A9", identityToken=token("U1")))
    assert response.json() == {"success": True}
    assert "A9" in profile(client, "U1")["anonymousIds"]


def test_rebuild_agrees_with_the_live_refusals(db_url: str) -> None:
    import dataclasses

    events = [
        dataclasses.replace(message("m1", "identify", userId="victim", traits={"plan": "pro"}), verified=True),
        message("m2", "identify", userId="mallory", traits={"plan": "evil"}),
        dataclasses.replace(message("m3", "alias", userId="mallory", previousId="victim"), verified=True),
    ]

    async def scenario(storage: Storage) -> None:
        added = await storage.add(events)
        assert added.inserted == 2 and list(added.refused) == [2]
        live = await storage.profile(typing.cast(str, await storage.find_profile(user_id="victim")))
        await storage.rebuild_profiles()
        rebuilt = await storage.profile(typing.cast(str, await storage.find_profile(user_id="victim")))
        assert live is not None and rebuilt is not None and live["userIds"] == ["victim"]
        assert {**rebuilt, "profileId": None} == {**live, "profileId": None}

    run(db_url, scenario)


def test_two_sources_sharing_a_secret_dont_take_each_others_tokens(client: TestClient) -> None:
    for_verified = token("U1", audience=VERIFIED_KEY)
    response = client.post("/v1/identify", json=identify(1, identity_token=for_verified), headers=basic(REQUIRED_KEY))
    assert response.status_code == 401 and "another source" in response.json()["error"]
    assert batch(client, VERIFIED_KEY, identify(2, identity_token=for_verified)).json() == {"success": True}


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    history=st.lists(st.tuples(messages(), st.booleans(), st.booleans()), max_size=25),
)
def test_no_history_merges_a_verified_profile_without_both_proofs(
    history: list[tuple[dict[str, typing.Any], bool, bool]],
) -> None:
    """Whatever the events, in whatever order, as the live collector applies them (refused aliases
    skipped): a verified profile only ever disappears into another through an alias proving both
    sides, and a verified profile only gains another user's ID through an alias proving its own."""
    graph = Graph()
    for event_id, (sent, verified, previous_verified) in enumerate(history, 1):
        has_user = sent.get("userId") is not None
        link = Link(event_id, sent["type"], sent["timestamp"], sent.get("userId"), sent.get("anonymousId"),
                    sent.get("previousId"), sent.get("traits"), verified and has_user,
                    previous_verified and sent["type"] == "alias")  # fmt: skip
        before = {pid: (set(p.user_ids), p.verified) for pid, p in graph.profiles.items()}
        if graph.refusal(link) is not None:
            continue
        graph.apply(link)
        for pid, (user_ids, was_verified) in before.items():
            if not was_verified:
                continue
            if pid not in graph.profiles:
                assert link.type == "alias" and link.verified and link.previous_verified, link
            elif graph.profiles[pid].user_ids - user_ids - {link.user_id}:
                assert link.type == "alias" and link.verified, link
