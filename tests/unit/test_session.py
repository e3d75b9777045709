"""Sessions: inactivity timeout by event time, shared by tabs, rotate()."""

import json

from support import MINUTE, deliver, tab

from visitrail.core.sessions import SESSION_KEY
from visitrail.memory import World


def session_of(m):
    return m["context"]["sessionId"]


def test_29_59_continues_and_30_00_starts_a_new_session():
    c, p, w = tab()
    c.call("track", ["A"])
    w.advance(30 * MINUTE - 1000)
    c.call("track", ["B"])
    w.advance(30 * MINUTE)
    c.call("track", ["C"])
    a, b, cc = deliver(w)
    assert session_of(a) == session_of(b) != session_of(cc)
    assert [a["context"]["sessionSequence"], b["context"]["sessionSequence"], cc["context"]["sessionSequence"]] == [
        1,
        2,
        1,
    ]


def test_configurable_timeout():
    c, p, w = tab(sessionTimeout="5")
    c.call("track", ["A"])
    w.advance(5 * MINUTE - 1)
    c.call("track", ["B"])
    w.advance(5 * MINUTE)
    c.call("track", ["C"])
    a, b, cc = deliver(w)
    assert session_of(a) == session_of(b) != session_of(cc)


def test_amplitude_session_id_is_the_start_time_in_ms():
    c, p, w = tab()
    start = w.now
    c.call("track", ["A"])
    w.advance(MINUTE)
    c.call("track", ["B"])
    for m in deliver(w):
        assert m["integrations"]["Actions Amplitude"]["session_id"] == start


def test_visitor_and_user_are_kept_across_sessions():
    c, p, w = tab()
    c.call("identify", ["u1"])
    w.advance(60 * MINUTE)
    c.call("track", ["Later"])
    first, later = deliver(w)
    assert session_of(first) != session_of(later)
    assert later["anonymousId"] == first["anonymousId"] and later["userId"] == "u1"


def test_activity_in_another_tab_keeps_the_session_alive():
    w = World()
    a, _, _ = tab(w)
    b, _, _ = tab(w)
    a.call("track", ["A0"])
    w.advance(20 * MINUTE)
    b.call("track", ["B20"])
    w.advance(20 * MINUTE)
    a.call("track", ["A40"])
    stored = deliver(w)
    assert len({session_of(m) for m in stored}) == 1
    assert [m["context"]["sessionSequence"] for m in stored] == [1, 2, 3]


def test_tabs_crossing_the_timeout_together_end_on_one_new_session():
    w = World()
    tabs = [tab(w)[0] for _ in range(5)]
    tabs[0].call("track", ["start"])
    old = tabs[0].call("session.id")
    w.advance(31 * MINUTE)
    # Each tab decides from the same expired record, as if none saw the others' writes.
    expired = w.local[SESSION_KEY]
    for i, t in enumerate(tabs):
        w.local[SESSION_KEY] = expired
        t.call("track", ["tab" + str(i)])
    stored = deliver(w)[1:]
    ids = {session_of(m) for m in stored}
    assert len(ids) == 1 and old not in ids
    assert all(t.call("session.id") in ids for t in tabs)


def test_rotate_in_one_tab_is_seen_by_the_other():
    w = World()
    a, _, _ = tab(w)
    b, _, _ = tab(w)
    a.call("track", ["A"])
    before = b.call("session.id")
    a.call("rotate")
    after = b.call("session.id")
    assert after != before and after == a.call("session.id")
    b.call("track", ["B"])
    assert session_of(deliver(w)[-1]) == after


def test_replayed_event_keeps_its_call_time_and_session():
    c, p, w = tab()
    called = w.now
    w.advance(5000)
    c.call("track", ["Queued"], {"timestamp": called, "messageId": "m-1", "page": {"path": "/old"}})
    m = deliver(w)[0]
    assert m["messageId"] == "m-1" and m["context"]["page"] == {"path": "/old"}
    assert m["timestamp"] == "2025-11-25T02:55:20.000Z"
    assert m["integrations"]["Actions Amplitude"]["session_id"] == called


def test_event_older_than_the_session_never_goes_out_without_one():
    c, p, w = tab()
    w.advance(120 * MINUTE)
    c.call("track", ["Now"])
    c.call("track", ["Old"], {"timestamp": w.now - 90 * MINUTE})
    now, old = deliver(w)
    assert session_of(old) and session_of(old) != session_of(now)


def test_memory_mode_keeps_the_session_in_memory():
    c, p, w = tab(idStorage="memory")
    c.call("track", ["A"])
    assert SESSION_KEY not in w.local
    assert session_of(deliver(w)[0]) == c.call("session.id")


def test_corrupted_session_record_is_replaced():
    w = World()
    w.local[SESSION_KEY] = '{"id": 3}'
    c, p, _ = tab(w)
    c.call("track", ["A"])
    assert session_of(deliver(w)[0]) == c.call("session.id")


def test_a_session_record_of_an_unknown_format_is_replaced():
    w = World()
    c, p, _ = tab(w)
    c.call("track", ["A"])
    first = c.call("session.id")
    record = json.loads(w.local[SESSION_KEY])
    assert record["v"] == 2
    record["v"] = 3
    record["sequence"] = 41
    w.local[SESSION_KEY] = json.dumps(record)
    assert c.call("session.id") is None  # not misread
    c.call("track", ["B"])
    replaced = json.loads(w.local[SESSION_KEY])
    assert replaced["v"] == 2 and replaced["sequence"] == 1 and c.call("session.id") == replaced["id"]
    assert first
