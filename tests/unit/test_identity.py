"""Visitor, user and group identity through the memory platform."""

import json

from support import deliver, tab

from visitrail.core.identity import ANON_KEY, SHARED_KEY, USER_KEY, canonical
from visitrail.core.ids import digest
from visitrail.memory import BrokenStore, DictStore, QuotaStore, World


def anon(c):
    return c.call("user.anonymousId")


def test_visitor_id_is_made_once_and_reused_across_clients_on_the_same_storage():
    c1, p, w = tab()
    a = anon(c1)
    assert w.local[ANON_KEY] == a
    c2, _, _ = tab(w)
    assert anon(c2) == a
    c2.call("track", ["X"])
    assert deliver(w)[0]["anonymousId"] == a


def test_identify_puts_user_and_traits_on_later_events_and_survives_reload():
    c, p, w = tab()
    c.call("identify", ["u1", {"plan": "pro"}])
    c.call("track", ["A"])
    reloaded, _, _ = tab(w)
    reloaded.call("track", ["B"])
    stored = deliver(w)
    assert [m.get("userId") for m in stored] == ["u1", "u1", "u1"]
    assert reloaded.call("user.traits") == {"plan": "pro"}
    assert reloaded.call("user.id") == "u1"


def test_traits_merge_new_keys_added_existing_updated_none_removed():
    c, p, w = tab()
    c.call("identify", ["u1", {"plan": "free", "email": "a@x"}])
    c.call("identify", ["u1", {"plan": "pro", "seats": 3}])
    c.call("identify", [{"company": "Acme"}])
    stored = deliver(w)
    assert stored[-1]["traits"] == {"plan": "pro", "email": "a@x", "seats": 3, "company": "Acme"}
    assert stored[-1]["userId"] == "u1"


def test_unchanged_identify_is_not_sent_again():
    c, p, w = tab()
    c.call("identify", ["u1", {"plan": "pro"}])
    again, _, _ = tab(w)  # the next page load calls identify with the same values
    again.call("identify", ["u1", {"plan": "pro"}])
    again.call("identify", ["u1"])
    assert [m["type"] for m in deliver(w)] == ["identify"]
    again.call("identify", ["u1", {"plan": "team"}])
    assert [m["traits"]["plan"] for m in deliver(w)] == ["pro", "team"]


def test_switching_user_without_reset_starts_a_new_visitor_and_drops_old_traits():
    c, p, w = tab()
    first = anon(c)
    c.call("identify", ["alice", {"email": "alice@x"}])
    c.call("identify", ["bob", {"plan": "pro"}])
    stored = deliver(w)
    assert stored[-1]["userId"] == "bob" and stored[-1]["traits"] == {"plan": "pro"}
    assert stored[-1]["anonymousId"] != first


def test_identify_with_empty_or_null_user_id_updates_traits_of_the_held_user():
    c, p, w = tab()
    c.call("identify", ["u1", {"a": 1}])
    a = anon(c)
    c.call("identify", ["", {"b": 2}])
    c.call("identify", [None, {"c": 3}])
    stored = deliver(w)
    assert [m.get("userId") for m in stored] == ["u1", "u1", "u1"]
    assert stored[-1]["traits"] == {"a": 1, "b": 2, "c": 3} and stored[-1]["anonymousId"] == a


def test_identify_null_alone_is_dropped_with_one_error():
    c, p, w = tab()
    c.call("identify", [None])
    c.call("track", ["Valid"])
    assert len(p.errors()) == 1 and "identify" in p.errors()[0]
    assert [m["event"] for m in deliver(w)] == ["Valid"]


def test_reset_clears_user_traits_visitor_and_session_everywhere():
    c, p, w = tab(idStorage="cookie", domain=".example.test")
    c.call("identify", ["u1", {"plan": "pro"}])
    c.call("group", ["g1", {"name": "Acme"}])
    before = anon(c)
    session = c.call("session.id")
    c.call("reset")
    # The old visitor is gone from every copy; the new one is written at once, everywhere, so that no
    # other subdomain can write the old one back from its own copy in between.
    assert USER_KEY not in w.local
    assert w.local[ANON_KEY] == w.cookies[ANON_KEY][0] != before
    assert json.loads(w.cookies[SHARED_KEY][0]) == {"a": w.local[ANON_KEY], "u": None}
    c.call("track", ["After"])
    after = deliver(w)[-1]
    assert "userId" not in after and after["anonymousId"] != before
    assert after["context"]["sessionId"] != session
    assert c.call("user.traits") == {}
    c.call("group", ["g2"])
    assert deliver(w)[-1]["traits"] == {}


def test_reset_can_keep_the_visitor():
    c, p, w = tab()
    c.call("identify", ["u1"])
    a = anon(c)
    c.call("reset", [{"keepAnonymousId": True}])
    assert anon(c) == a and c.call("user.id") is None


def test_memory_mode_makes_a_new_visitor_per_page_load_and_persists_nothing():
    c1, p, w = tab(idStorage="memory")
    c1.call("identify", ["u1"])
    c2, _, _ = tab(w, idStorage="memory")
    assert anon(c1) != anon(c2)
    assert c2.call("user.id") is None
    c1.call("track", ["A"])
    deliver(w)
    assert w.local == {} and w.cookies == {}


def test_cookie_mode_shares_the_visitor_and_the_cookie_wins_over_the_local_copy():
    world = World()
    shop, _, _ = tab(world, local=DictStore({}), idStorage="cookie", domain=".example.test")
    a = anon(shop)
    assert world.cookies[ANON_KEY] == (a, ".example.test")
    # Another subdomain: its own localStorage holds an older, different ID.
    blog_local = DictStore({ANON_KEY: "stale-id"})
    blog, _, _ = tab(world, local=blog_local, idStorage="cookie", domain=".example.test")
    assert anon(blog) == a
    assert blog_local.data[ANON_KEY] == a  # resynced to the cookie


def test_cookie_deleted_by_hand_is_restored_from_local_storage():
    c, p, w = tab(idStorage="cookie", domain=".example.test")
    a = anon(c)
    del w.cookies[ANON_KEY]
    reloaded, _, _ = tab(w, idStorage="cookie", domain=".example.test")
    assert anon(reloaded) == a
    assert w.cookies[ANON_KEY][0] == a


def test_blocked_local_storage_falls_back_to_cookies_with_one_warning():
    c, p, w = tab(local=BrokenStore())
    c.call("track", ["A"])
    c.call("track", ["B"])
    stored = deliver(w)
    assert [m["event"] for m in stored] == ["A", "B"]
    assert stored[0]["anonymousId"] == stored[1]["anonymousId"] == w.cookies[ANON_KEY][0]
    warnings = p.errors("warn")
    assert len([m for m in warnings if "localStorage" in m]) == 1
    assert p.errors() == []


def test_no_working_storage_still_gives_every_event_a_visitor_id():
    c, p, w = tab(local=BrokenStore(), cookies=BrokenStore("cookie"))
    c.call("track", ["A"])
    c.call("track", ["B"])
    stored = deliver(w)
    assert stored[0]["anonymousId"] and stored[0]["anonymousId"] == stored[1]["anonymousId"]


def test_quota_exceeded_on_identity_write_does_not_throw():
    c, p, w = tab(local=QuotaStore({}, 10))
    c.call("identify", ["u1", {"plan": "pro"}])
    c.call("track", ["A"])
    stored = deliver(w)
    assert [m.get("userId") for m in stored] == ["u1", "u1"]


def test_corrupted_values_are_replaced_not_crashed_on():
    w = World()
    w.local[ANON_KEY] = "\u0000broken\n"
    w.local[USER_KEY] = "{not json"
    c, p, _ = tab(w)
    c.call("track", ["A"])
    m = deliver(w)[0]
    assert m["anonymousId"] != "\u0000broken\n" and len(m["anonymousId"]) == 36
    assert "userId" not in m
    assert w.local[ANON_KEY] == m["anonymousId"]


def test_set_anonymous_id_from_the_server():
    c, p, w = tab()
    c.call("setAnonymousId", ["server-made-id"])
    c.call("track", ["A"])
    assert deliver(w)[0]["anonymousId"] == "server-made-id"


def test_bad_input_logs_one_error_and_valid_calls_around_it_go_through():
    c, p, w = tab()
    c.call("track", ["Before"])
    c.call("identify", [42, "x"])
    c.call("track", ["After"])
    assert len(p.errors()) == 1 and "identify" in p.errors()[0]
    assert [m["event"] for m in deliver(w)] == ["Before", "After"]


def test_bad_field_is_dropped_and_the_call_goes_on():
    c, p, w = tab()
    c.call("track", ["Clicked", "not an object"])
    c.call("identify", ["u1", {"ok": 1, "fn": object()}])
    stored = deliver(w)
    assert stored[0]["properties"] == {} and stored[1]["traits"] == {"ok": 1}
    assert len(p.errors()) == 2


def test_values_the_loader_could_not_serialise_are_named_and_dropped():
    c, p, w = tab()
    c.call(
        "identify",
        ["u1", {"name": "Ann", "onClick": {"__unserialisable__": "function"}, "self": {"__unserialisable__": "cycle"}}],
    )
    assert deliver(w)[0]["traits"] == {"name": "Ann"}
    assert len(p.errors()) == 1 and "traits.onClick" in p.errors()[0] and "cycle" in p.errors()[0]


def test_alias_defaults_previous_id_to_the_visitor():
    c, p, w = tab()
    a = anon(c)
    c.call("alias", ["u9"])
    m = deliver(w)[0]
    assert m["type"] == "alias" and m["previousId"] == a and m["userId"] == "u9"


def test_group_traits_persist_and_merge():
    c, p, w = tab()
    c.call("group", ["g1", {"name": "Acme"}])
    again, _, _ = tab(w)
    again.call("group", ["g1", {"plan": "team"}])
    assert deliver(w)[-1]["traits"] == {"name": "Acme", "plan": "team"}


def test_persist_user_false_keeps_the_user_for_the_page_only():
    c, p, w = tab(persistUser="false")
    c.call("identify", ["u1", {"a": 1}])
    assert USER_KEY not in w.local
    reloaded, _, _ = tab(w, persistUser="false")
    assert reloaded.call("user.id") is None
    assert reloaded.call("user.anonymousId") == c.call("user.anonymousId")


def test_stored_records_carry_their_format_and_one_from_a_newer_sdk_is_not_misread():
    c, p, w = tab()
    c.call("identify", ["u1", {"plan": "pro"}])
    assert json.loads(w.local[USER_KEY])["v"] == 1
    # Written before the format field existed: read as format 1.
    w.local[USER_KEY] = json.dumps({"id": "u-old", "traits": {"a": 1}})
    assert tab(w)[0].call("user.id") == "u-old"
    # Written by a later SDK in a format this one does not know: set aside, never half-understood.
    w.local[USER_KEY] = json.dumps({"v": 2, "id": "u-new", "traits": {"a": 1}})
    later, p2, _ = tab(w)
    assert later.call("user.id") is None
    assert len(p2.errors("warn")) == 1


def test_placeholder_ids_are_refused_with_one_console_error_each():
    c, p, w = tab()
    for call, args in (
        ("identify", ["undefined", {"plan": "pro"}]),
        ("identify", ["  "]),
        ("identify", ["NULL"]),
        ("group", ["[object Object]"]),
        ("alias", ["guest"]),
        ("alias", ["u1", "0"]),
        ("setAnonymousId", ["anonymous"]),
    ):
        c.call(call, args)
    assert len(p.errors()) == 7
    assert all("placeholder" in e for e in p.errors())
    assert deliver(w) == [] and c.call("user.id") is None
    c.call("identify", ["", {"plan": "team"}])  # "" still means "no user ID": the traits go on
    assert [m["type"] for m in deliver(w)] == ["identify"] and len(p.errors()) == 7


# Set-once traits (identify's options.setOnce)


def test_set_once_traits_go_as_context_traits_once_and_keep_their_first_value():
    c, p, w = tab()
    c.call("identify", ["u1", {"plan": "free"}, {"setOnce": {"signup": "2026-01", "plan": "trial"}}])
    c.call("identify", ["u1", {"plan": "pro"}, {"setOnce": {"signup": "2027-05", "source": "ad"}}])
    first, second = deliver(w)
    assert first["traits"] == {"plan": "free"}
    assert first["context"]["traitsOnce"] == {"signup": "2026-01", "plan": "trial"}
    # The call's own set-once traits are sent: the collector keeps the earliest of every device's.
    assert second["traits"] == {"plan": "pro"}
    assert second["context"]["traitsOnce"] == {"signup": "2027-05", "source": "ad"}
    # Held: a set-once key keeps its first value, and shows over a regular trait of the same key.
    held = {"plan": "trial", "signup": "2026-01", "source": "ad"}
    assert c.call("user.traits") == held
    assert tab(w)[0].call("user.traits") == held
    assert p.errors() == []


def test_identify_with_set_once_alone_is_a_call_and_is_not_sent_again_unchanged():
    c, p, w = tab()
    c.call("identify", ["u1", None, {"setOnce": {"first": "/pricing"}}])
    c.call("identify", ["u1", None, {"setOnce": {"first": "/pricing"}}])
    c.call("identify", ["u1", {}, {"setOnce": {"first": "/blog"}}])  # changes nothing held
    c.call("identify", [{}, {"setOnce": {"team": 4}}])  # the held user's
    stored = deliver(w)
    assert [m["context"]["traitsOnce"] for m in stored] == [{"first": "/pricing"}, {"team": 4}]
    assert [m["userId"] for m in stored] == ["u1", "u1"] and stored[0]["traits"] == {}
    c.call("identify", ["u1", {"a": 1}])
    assert "traitsOnce" not in deliver(w)[-1]["context"]
    assert p.errors() == []


def test_a_visitor_may_set_once_without_a_user_but_not_with_nothing():
    c, p, w = tab()
    c.call("identify", [None, None, {"setOnce": {}}])
    c.call("identify", [None, {}, {"setOnce": {"landing": "/a"}}])
    [m] = deliver(w)
    assert "userId" not in m and m["context"]["traitsOnce"] == {"landing": "/a"}
    assert len(p.errors()) == 1 and "setOnce" in p.errors()[0]


def test_bad_set_once_is_dropped_like_bad_traits_and_the_call_goes_on():
    c, p, w = tab()
    c.call("identify", ["u1", {"ok": 1}, {"setOnce": "2026-01"}])
    c.call("identify", ["u1", {}, {"setOnce": {"at": "now", "fn": {"__unserialisable__": "function"}}}])
    first, second = deliver(w)
    assert first["traits"] == {"ok": 1} and "traitsOnce" not in first["context"]
    assert second["context"]["traitsOnce"] == {"at": "now"}
    assert len(p.errors()) == 2
    assert "setOnce must be an object" in p.errors()[0] and "setOnce.fn" in p.errors()[1]


def test_set_once_traits_go_with_their_user():
    c, p, w = tab()
    c.call("identify", ["alice", {}, {"setOnce": {"signup": "2026-01"}}])
    c.call("identify", ["bob", {"plan": "pro"}])
    assert c.call("user.traits") == {"plan": "pro"}
    c.call("identify", ["bob", {}, {"setOnce": {"signup": "2026-02"}}])
    assert c.call("user.traits") == {"plan": "pro", "signup": "2026-02"}
    c.call("reset")
    assert c.call("user.traits") == {}
    assert "alice" not in w.local.get(USER_KEY, "")


def test_an_identify_digest_stored_before_set_once_traits_still_matches():
    c, p, w = tab()
    # What an SDK before set-once traits stored for identify("u1", {"plan": "pro"}).
    w.local[USER_KEY] = json.dumps({"v": 1, "id": "u1", "traits": {"plan": "pro"},
                                    "sent": digest(canonical(["u1", {"plan": "pro"}]))})  # fmt: skip
    again, _, _ = tab(w)
    again.call("identify", ["u1", {"plan": "pro"}])
    assert deliver(w) == []


def test_a_stored_set_once_record_that_is_not_an_object_is_replaced():
    c, p, w = tab()
    w.local[USER_KEY] = json.dumps({"v": 1, "id": "u1", "traits": {}, "once": ["x"]})
    again, p2, _ = tab(w)
    assert again.call("user.traits") == {} and again.call("user.id") is None
    assert len(p2.errors("warn")) == 1 and p2.errors() == []
