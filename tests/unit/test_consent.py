"""Consent, identity tokens, and what the collector says it refused."""

from support import deliver, tab

from visitrail.core.client import CONSENT_KEY
from visitrail.memory import World


def test_pending_consent_stores_nothing_and_sends_nothing():
    c, p, w = tab(consent="pending")
    c.call("identify", ["u1", {"plan": "pro"}])
    c.call("track", ["Held"])
    w.run_until_idle()
    assert w.local == {} and w.cookies == {} and w.sent == [] and w.beacons == []
    assert c.call("user.anonymousId") is None


def test_grant_sends_held_calls_with_their_original_times():
    c, p, w = tab(consent="pending")
    called_at = w.now
    c.call("identify", ["u1"])
    c.call("track", ["Held"])
    w.advance(60000)
    c.call("consent.grant")
    stored = deliver(w)
    assert [m["type"] for m in stored] == ["identify", "track"]
    assert all(m["timestamp"] == "2025-11-25T02:55:20.000Z" for m in stored) and called_at
    assert stored[1]["userId"] == "u1"
    assert w.local[CONSENT_KEY] == "granted"


def test_deny_drops_held_calls_and_the_choice_persists():
    c, p, w = tab(consent="pending")
    c.call("track", ["Held"])
    c.call("consent.deny")
    c.call("track", ["After"])
    w.run_until_idle()
    assert w.sent == [] and w.local == {CONSENT_KEY: "denied"}
    again, _, _ = tab(w, consent="granted")
    again.call("track", ["Next page"])
    w.run_until_idle()
    assert w.sent == []
    assert again.call("consent.state") == "denied"


def test_a_granted_choice_persists_over_a_pending_tag():
    w = World()
    w.local[CONSENT_KEY] = "granted"
    c, p, _ = tab(w, consent="pending")
    c.call("track", ["A"])
    assert [m["event"] for m in deliver(w)] == ["A"]


def test_identity_token_travels_with_the_users_events_until_reset():
    c, p, w = tab()
    c.call("identify", ["u1", {}, {"identityToken": "tok-1"}])
    c.call("track", ["Signed in"])
    c.call("reset")
    c.call("track", ["Signed out"])
    identify, signed_in, signed_out = deliver(w)
    assert identify["context"]["identityToken"] == "tok-1" == signed_in["context"]["identityToken"]
    assert "identityToken" not in signed_out["context"]


def test_the_tag_token_is_kept_like_the_user():
    c, p, w = tab(identityToken="tok-tag")
    c.call("identify", ["u1"])
    assert deliver(w)[0]["context"]["identityToken"] == "tok-tag"


def test_a_refusal_the_collector_explains_is_logged_once_and_anonymous_events_go_on():
    def handler(url, body):
        if any(m.get("userId") for m in body["batch"]):
            return 200, None, '{"success": true, "rejected": [{"index": 0, "reason": "identity token expired"}]}'
        return 200

    c, p, w = tab(World(handler=handler))
    c.call("identify", ["u1", {}, {"identityToken": "old"}])
    w.run_until_idle()
    c.call("track", ["Still signed in"])
    w.run_until_idle()
    c.call("reset")
    c.call("track", ["Anonymous"])
    w.run_until_idle()
    assert len([e for e in p.errors() if "identity token expired" in e]) == 1
    assert [m["event"] for b, _ in w.sent for m in b["batch"] if m["type"] == "track"][-1] == "Anonymous"
