"""The Recorder: a call's rules over an identity and a session record, as both the browser's client
and the collector (raw beacon calls) run them. Plain Python: these run on MicroPython too."""

from support import MINUTE, raises

from visitrail.core.arguments import CallError
from visitrail.core.identity import Identity
from visitrail.core.platform import MemoryStore
from visitrail.core.recorder import Recorder
from visitrail.core.sessions import Sessions
from visitrail.core.stores import Health, LayeredStore

T0 = 1764039320000


def recorder(consent="granted"):
    counter = [0]

    def new_id():
        counter[0] += 1
        return "id-" + str(counter[0])

    health = Health(lambda level, message: None)
    identity = Identity(new_id, LayeredStore([(MemoryStore(), "sync")], health),
                        LayeredStore([(MemoryStore(), "sync")], health), health.log)  # fmt: skip
    sessions = Sessions(LayeredStore([(MemoryStore(), "sync")], health), 30 * MINUTE, new_id)
    out = []
    return Recorder(identity, sessions, out.append, None, consent), out


def stamp(n, t=T0):
    return {"timestamp": t + n, "messageId": "m" + str(n), "page": None}


def test_every_event_carries_the_visitor_the_user_and_the_session():
    r, out = recorder()
    r.record("track", ["Before"], stamp(1))
    r.record("identify", ["u1", {"plan": "pro"}], stamp(2))
    r.record("track", ["After"], stamp(3))
    assert [m["type"] for m in out] == ["track", "identify", "track"]
    assert len({m["anonymousId"] for m in out}) == 1
    assert [m.get("userId") for m in out] == [None, "u1", "u1"]
    assert len({m["context"]["sessionId"] for m in out}) == 1
    assert [m["context"]["sessionSequence"] for m in out] == [1, 2, 3]


def test_alias_defaults_to_the_user_then_the_visitor():
    r, out = recorder()
    r.record("alias", ["new-id"], stamp(1))
    r.record("identify", ["u1"], stamp(2))
    r.record("alias", ["newer-id"], stamp(3))
    assert out[0]["previousId"] == out[0]["anonymousId"]
    assert out[2]["previousId"] == "u1"


def test_an_unchanged_identify_is_not_sent_again_and_another_user_gets_a_new_visitor():
    r, out = recorder()
    r.record("identify", ["u1", {"plan": "pro"}], stamp(1))
    r.record("identify", ["u1", {"plan": "pro"}], stamp(2))
    r.record("identify", ["u2"], stamp(3))
    assert [m["userId"] for m in out] == ["u1", "u2"]
    assert out[0]["anonymousId"] != out[1]["anonymousId"]
    assert out[1]["traits"] == {}  # u1's traits are not carried over


def test_reset_and_rotate_start_a_new_session_and_make_no_event():
    r, out = recorder()
    r.record("track", ["A"], stamp(1))
    r.record("rotate", [], stamp(2))
    r.record("track", ["B"], stamp(3))
    r.record("reset", [], stamp(4))
    r.record("track", ["C"], stamp(5))
    assert [m["event"] for m in out] == ["A", "B", "C"]
    assert len({m["context"]["sessionId"] for m in out}) == 3
    assert out[1]["anonymousId"] == out[0]["anonymousId"] != out[2]["anonymousId"]


def test_pending_consent_holds_calls_with_their_stamps_and_a_grant_hands_them_back():
    r, out = recorder("pending")
    r.record("track", ["Held"], stamp(1))
    r.record("identify", ["u1"], stamp(2))
    assert out == []
    held = r.decide(True)
    assert [(m, a[0], s["messageId"]) for m, a, s in held] == [("track", "Held", "m1"), ("identify", "u1", "m2")]
    for method, args, s in held:
        r.record(method, args, s)
    assert [m["messageId"] for m in out] == ["m1", "m2"]
    assert out[0]["timestamp"] == "2025-11-25T02:55:20.001Z"  # the time of the call, not of the grant


def test_a_deny_drops_what_was_held_and_what_follows():
    r, out = recorder("pending")
    r.record("track", ["Held"], stamp(1))
    assert r.decide(False) == []
    r.record("track", ["Denied"], stamp(2))
    assert out == [] and r.held == []


def test_a_call_that_cannot_be_made_raises_and_changes_nothing():
    r, out = recorder()
    assert raises(CallError, r.record, "identify", [42], stamp(1))
    assert raises(CallError, r.record, "track", [""], stamp(2))
    assert raises(CallError, r.record, "nonsense", [], stamp(3))
    assert out == [] and r.identity.user_id() is None
