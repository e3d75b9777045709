"""Delivery: batching, the persisted queue, retries, splitting, beacons, two tabs."""

from support import deliver, tab

from visitrail.core import backoff
from visitrail.core.delivery import MAX_BEACON_BYTES
from visitrail.core.outbox import MAX_QUEUED, ORPHAN_MS, QUEUE_PREFIX
from visitrail.memory import DictStore, QuotaStore, World


def queue_keys(w):
    return [k for k in w.local if k.startswith(QUEUE_PREFIX)]


def events(w):
    return [m.get("event") for m in w.stored()]


def test_a_full_batch_goes_at_once_and_a_partial_one_after_the_interval():
    c, p, w = tab(flushAt=3, flushInterval=1000)
    c.call("track", ["1"])
    c.call("track", ["2"])
    w.advance(999)
    assert w.sent == []
    w.advance(1)
    assert [len(b["batch"]) for b, _ in w.sent] == [2]
    for i in range(3):
        c.call("track", [str(i)])
    w.advance(0)
    assert [len(b["batch"]) for b, _ in w.sent] == [2, 3]


def test_every_event_is_persisted_before_sending_and_removed_on_acknowledgement():
    c, p, w = tab()
    c.call("track", ["A"])
    (key,) = queue_keys(w)
    assert '"A"' in w.local[key]
    deliver(w)
    assert queue_keys(w) == []


def test_a_reload_sends_what_was_left_and_a_resend_is_not_stored_twice():
    w = World()
    w.latency_ms = 500
    c, p, _ = tab(w)
    for i in range(5):
        c.call("track", [str(i)])
    w.advance(1000)  # the batch is in flight when the page goes away
    assert len(w.sent) == 1
    p.emit("hide", True)  # pagehide
    w.tabs.remove(p)
    w.timers = []  # the old page's callbacks never run
    reloaded, _, _ = tab(w)
    w.run_until_idle()
    assert events(w) == ["0", "1", "2", "3", "4"]
    assert queue_keys(w) == []


def test_offline_events_wait_and_go_once_online():
    c, p, w = tab(flushAt=20)
    w.online = False
    for i in range(200):
        c.call("track", [str(i)])
    w.run_until_idle()
    assert w.sent == []
    w.online = True
    p.emit("online")
    w.run_until_idle()
    assert events(w) == [str(i) for i in range(200)]


def test_server_errors_are_retried_with_growing_backoff_until_delivered():
    answers = [503, 503, 503]
    times = []
    w = World(handler=lambda url, body: (times.append(w.now), answers.pop(0) if answers else 200)[1])
    c, p, _ = tab(w)
    c.call("track", ["A"])
    w.run_until_idle()
    assert events(w) == ["A"] and len(times) == 4
    gaps = [b - a for a, b in zip(times, times[1:])]
    for attempt, gap in enumerate(gaps, 1):
        assert backoff.FLOOR_MS <= gap <= backoff.ceiling(attempt)


def test_retry_after_is_honoured():
    answers = [(429, 7)]
    times = []
    w = World(handler=lambda url, body: (times.append(w.now), answers.pop(0) if answers else 200)[1])
    c, p, _ = tab(w)
    c.call("track", ["A"])
    w.run_until_idle()
    assert times[1] - times[0] >= 7000 and events(w) == ["A"]


def test_a_batch_refused_with_400_is_split_so_valid_events_still_arrive():
    def handler(url, body):
        return 400 if any(m.get("event") == "bad" for m in body["batch"]) else 200

    c, p, w = tab(World(handler=handler), flushAt=100)
    for name in ["a", "b", "bad", "c", "d"]:
        c.call("track", [name])
    c.flush()
    w.run_until_idle()
    assert events(w) == ["a", "b", "c", "d"]
    assert len(p.errors()) == 1 and "400" in p.errors()[0]


def test_a_4xx_other_than_400_is_not_retried_and_logged_once():
    c, p, w = tab(World(handler=lambda url, body: 401))
    c.call("track", ["A"])
    w.run_until_idle()
    assert len(w.sent) == 1 and len(p.errors()) == 1 and queue_keys(w) == []


def test_an_event_over_32kb_is_rejected_with_one_error_and_others_go():
    c, p, w = tab()
    c.call("track", ["big", {"blob": "x" * 33000}])
    c.call("track", ["small"])
    assert events(deliver(w) and w) == ["small"]
    assert len(p.errors()) == 1 and "32 KB" in p.errors()[0]


def test_batches_stay_under_the_request_size_limit():
    c, p, w = tab(flushAt=500)
    for i in range(40):
        c.call("track", [str(i), {"blob": "x" * 30000}])
    w.run_until_idle()
    import json

    sizes = [len(json.dumps(b)) for b, _ in w.sent]
    assert len(sizes) >= 3 and max(sizes) <= 500 * 1000
    assert events(w) == [str(i) for i in range(40)]


def test_flush_calls_back_once_acknowledged():
    c, p, w = tab(flushInterval=60000)
    done = []
    c.call("track", ["A"])
    c.flush(done.append)
    assert done == []
    w.advance(0)
    assert done == [True] and events(w) == ["A"]


def test_the_queue_is_bounded_and_drops_the_oldest_with_one_warning():
    c, p, w = tab()
    w.online = False
    for i in range(MAX_QUEUED + 5):
        c.call("track", [str(i)])
    assert len([m for m in p.errors("warn") if "full" in m]) == 1
    w.online = True
    c.flush()
    w.run_until_idle()
    assert events(w) == [str(i) for i in range(5, MAX_QUEUED + 5)]


def test_quota_exceeded_shrinks_the_queue_instead_of_throwing():
    w = World()
    w.online = False
    c, p, _ = tab(w, local=QuotaStore(w.local, 20000))
    for i in range(100):
        c.call("track", [str(i), {"pad": "y" * 200}])
    assert any("full" in m for m in p.errors("warn"))
    w.online = True
    c.flush()
    w.run_until_idle()
    got = events(w)
    assert got[-1] == "99" and got == sorted(got, key=int) and len(got) == len(set(got))


def test_two_tabs_one_queue_each_event_sent_once():
    w = World()
    w.latency_ms = 200
    a, pa, _ = tab(w, flushAt=5)
    b, pb, _ = tab(w, flushAt=5)
    for i in range(30):
        (a if i % 2 else b).call("track", [str(i)])
        w.advance(37)
    w.run_until_idle()
    sent_ids = [m["messageId"] for body, _ in w.sent for m in body["batch"]]
    assert len(sent_ids) == len(set(sent_ids)) == 30
    assert sorted(events(w), key=int) == [str(i) for i in range(30)]
    assert queue_keys(w) == []


def test_each_tab_writes_only_its_own_queue_key():
    # Tabs in separate renderer processes can read stale localStorage: with one shared queue key,
    # appends made at the same moment overwrite each other. One writer per key cannot lose any.
    w = World()
    w.online = False
    tabs = [tab(w)[0] for _ in range(5)]
    for i, t in enumerate(tabs):
        t.call("track", ["tab " + str(i)])
    assert len(queue_keys(w)) == 5
    w.online = True
    for t in tabs:
        t.flush()
    w.run_until_idle()
    assert sorted(events(w)) == ["tab " + str(i) for i in range(5)]


def test_a_crashed_tab_queue_is_adopted_after_it_falls_silent():
    w = World()
    w.latency_ms = 100
    a, pa, _ = tab(w)
    w.online = False
    a.call("track", ["A"])
    w.advance(1000)  # tab A cannot send, then crashes: no pagehide
    w.online = True
    w.timers = []
    w.tabs.remove(pa)
    b, pb, _ = tab(w)
    b.call("track", ["B"])
    w.run_until_idle()
    assert events(w) == ["B"]
    w.advance(ORPHAN_MS)
    c, pc, _ = tab(w)  # a later page load takes the silent queue over
    w.run_until_idle()
    assert sorted(events(w)) == ["A", "B"] and queue_keys(w) == []


class _Unreadable(DictStore):
    """localStorage that lists every key but throws when one of them is read."""

    def __init__(self, data, key):
        DictStore.__init__(self, data)
        self.unreadable = key

    def get(self, key):
        if key == self.unreadable:
            raise RuntimeError("SecurityError: the operation is insecure")
        return DictStore.get(self, key)


def test_a_queue_that_cannot_be_read_is_left_alone_and_the_others_are_adopted_once():
    # Found by mypy (possibly-undefined): the read's failure left `raw` unbound (the SDK failed to
    # start) or holding the previous queue's text (adopted twice, and the unread queue removed).
    w = World()
    w.online = False
    unreadable = QUEUE_PREFIX + "b"
    w.local[QUEUE_PREFIX + "a"] = '{"v": 1, "seen": 0, "closed": true, "items": [{"messageId": "m1", "event": "A"}]}'
    w.local[unreadable] = '{"v": 1, "seen": 0, "closed": true, "items": [{"messageId": "m2", "event": "B"}]}'
    c, p, _ = tab(w, local=_Unreadable(w.local, unreadable))
    assert [m["messageId"] for m in c.delivery.outbox.items()] == ["m1"]
    assert unreadable in w.local and QUEUE_PREFIX + "a" not in w.local
    tab(w, local=_Unreadable(w.local, unreadable))  # now the only other queue: this start raised
    assert unreadable in w.local


def test_a_tab_that_leaves_hands_its_queue_to_an_open_tab():
    w = World()
    w.online = False
    a, pa, _ = tab(w)
    b, pb, _ = tab(w)
    a.call("track", ["from A"])
    pa.emit("hide", True)
    w.tabs.remove(pa)
    w.timers = []
    (key,) = queue_keys(w)
    pb.emit("storage", key, w.local[key])
    w.online = True
    b.flush()
    w.run_until_idle()
    assert events(w) == ["from A"] and queue_keys(w) == []


def test_page_hide_beacons_the_queue_in_chunks_and_keeps_it_until_acknowledged():
    c, p, w = tab(flushInterval=60000, flushAt=500)
    for i in range(10):
        c.call("track", [str(i), {"pad": "z" * 10000}])
    p.emit("hide")
    import json

    assert w.beacons and all(len(json.dumps(b)) <= 64 * 1024 for b in w.beacons)
    assert all(b["writeKey"] == "wk" for b in w.beacons)
    beaconed = [m["event"] for b in w.beacons for m in b["batch"]]
    assert beaconed == [str(i) for i in range(10)]
    assert queue_keys(w)
    p.emit("hide", True)  # the pagehide that follows beacons nothing twice
    assert [m["event"] for b in w.beacons for m in b["batch"]] == beaconed
    assert MAX_BEACON_BYTES < 64 * 1024
