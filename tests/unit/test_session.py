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


# -- The maximum length, continuity, and the invariants ------------------------------------------

HOUR = 60 * MINUTE


def test_a_session_ends_after_its_maximum_length_even_when_active():
    c, p, w = tab()
    c.call("track", ["start"])
    for _ in range(24 * 3 - 1):  # every 20 minutes: never idle long enough to time out
        w.advance(20 * MINUTE)
        c.call("track", ["busy"])
    w.advance(20 * MINUTE - 1)  # 23:59:59.999 after the start
    c.call("track", ["last of the day"])
    w.advance(1)  # 24:00:00.000
    c.call("track", ["next day"])
    events = deliver(w)
    assert len({session_of(m) for m in events[:-1]}) == 1
    assert session_of(events[-1]) != session_of(events[0])
    assert events[-1]["context"]["sessionSequence"] == 1


def test_configurable_maximum_length():
    c, p, w = tab(sessionMaxHours="1.5")
    assert c.sessions.max_ms == 90 * MINUTE
    c.call("track", ["A"])
    for name in ("B", "C", "D", "E"):  # at 20, 40, 60, 80 minutes
        w.advance(20 * MINUTE)
        c.call("track", [name])
    w.advance(10 * MINUTE)  # 90 minutes
    c.call("track", ["F"])
    events = deliver(w)
    assert len({session_of(m) for m in events[:5]}) == 1 and session_of(events[5]) != session_of(events[0])
    for bad in ("0", "-3", "nope", "10000", True):
        assert tab(sessionMaxHours=bad)[0].sessions.max_ms == 24 * HOUR


def test_tabs_crossing_the_maximum_length_together_end_on_one_new_session():
    w = World()
    tabs = [tab(w, sessionMaxHours="1")[0] for _ in range(5)]
    tabs[0].call("track", ["start"])
    for _ in range(2):
        w.advance(20 * MINUTE)
        tabs[0].call("track", ["busy"])
    old = tabs[0].call("session.id")
    w.advance(20 * MINUTE)  # an hour after the start, 20 minutes after the last activity
    expired = w.local[SESSION_KEY]
    for i, t in enumerate(tabs):
        w.local[SESSION_KEY] = expired  # each decides from the same record
        t.call("track", ["tab" + str(i)])
    ids = {session_of(m) for m in deliver(w)[3:]}
    assert len(ids) == 1 and old not in ids


def test_identify_group_consent_and_a_reload_never_start_a_session():
    w = World()
    c, p, _ = tab(w, consent="pending")
    c.call("track", ["held"])
    w.advance(MINUTE)
    c.call("consent.grant")
    first = c.call("session.id")
    c.call("identify", ["u1", {"plan": "pro"}])
    c.call("group", ["g1"])
    c.call("identify", ["u2"])  # another user: a new visitor, but not a new session
    w.advance(MINUTE)
    again, _, _ = tab(w)  # a reload: a new page, a new client, the same browser
    again.call("track", ["after the reload"])
    events = deliver(w)
    assert [m["type"] for m in events] == ["track", "identify", "group", "identify", "track"]
    assert {session_of(m) for m in events} == {first}
    assert [m["context"]["sessionSequence"] for m in events] == [1, 2, 3, 4, 5]


def test_reset_and_rotate_start_a_new_session():
    c, p, w = tab()
    c.call("track", ["A"])
    c.call("rotate")
    c.call("track", ["B"])
    c.call("reset")
    c.call("track", ["C"])
    c.call("reset", [{"keepAnonymousId": True}])
    c.call("track", ["D"])
    events = deliver(w)
    assert len({session_of(m) for m in events}) == 4
    assert all(m["context"]["sessionSequence"] == 1 for m in events)


def test_invariants_across_five_tabs_no_event_without_a_session_and_one_session_per_idle_window():
    w = World(seed=7)
    tabs = [tab(w)[0] for _ in range(5)]
    rng = w.rng
    windows = []  # per idle window: the names of its events
    for window in range(6):
        names = []
        for i in range(40):
            w.advance(rng.randrange(0, 3 * MINUTE))  # activity: gaps well under the timeout
            name = "w" + str(window) + "-" + str(i)
            tabs[rng.randrange(0, 5)].call("track", [name])
            names.append(name)
        windows.append(names)
        w.advance(31 * MINUTE)  # idle: the next event starts the next session
    events = deliver(w)
    assert len(events) == 6 * 40
    assert all(session_of(m) for m in events)  # no event without a session ID
    by_name = {m["event"]: m for m in events}
    sessions = [{session_of(by_name[n]) for n in names} for names in windows]
    assert all(len(s) == 1 for s in sessions)  # one session per visitor per idle window
    assert len({session for ids in sessions for session in ids}) == 6  # (MicroPython's union takes one set)
    assert len({m["anonymousId"] for m in events}) == 1
