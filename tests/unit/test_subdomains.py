"""Cookie mode across subdomains: the cookies of data-domain are the authority for the visitor and
the user. Each subdomain is a tab with its own localStorage; the cookie jar is the world's."""

import json

from support import deliver, tab

from visitrail.core.identity import ANON_KEY, SHARED_KEY, USER_KEY
from visitrail.memory import DictStore, World

DOMAIN = ".example.test"


def site(world, **extra):
    """A page of another subdomain, already open: its own localStorage, the shared cookies."""
    c, _, _ = tab(world, local=DictStore({}), idStorage="cookie", domain=DOMAIN, **extra)
    return c


def last(world):
    return deliver(world)[-1]


def test_an_identify_on_one_subdomain_is_on_the_next_event_of_another():
    w = World()
    app, www = site(w), site(w)
    www.call("track", ["Browsing"])
    app.call("identify", ["u1", {"plan": "pro"}])
    www.call("track", ["Next"])
    event = last(w)
    assert event["userId"] == "u1" and event["anonymousId"] == app.call("user.anonymousId")
    assert www.call("user.id") == "u1"
    assert www.call("user.traits") == {}  # traits stay per origin; the collector merges them per profile
    later = site(w)  # a new page of a third subdomain
    assert later.call("user.id") == "u1"


def test_a_reset_on_one_subdomain_signs_every_other_one_out():
    w = World()
    app, www = site(w), site(w)
    app.call("identify", ["u1"])
    www.call("track", ["Signed in"])
    before = www.call("user.anonymousId")
    app.call("reset")
    www.call("track", ["After the reset"])
    event = last(w)
    assert "userId" not in event and event["anonymousId"] != before
    assert event["anonymousId"] == app.call("user.anonymousId")  # one visitor, never two
    assert www.call("user.id") is None and USER_KEY not in www.identity.users.layers[0][0].data


def test_a_reset_that_keeps_the_visitor_still_signs_the_others_out():
    w = World()
    app, www = site(w), site(w)
    app.call("identify", ["u1"])
    assert www.call("user.id") == "u1"
    app.call("reset", [{"keepAnonymousId": True}])
    assert www.call("user.id") is None
    assert www.call("user.anonymousId") == app.call("user.anonymousId")


def test_another_user_on_one_subdomain_is_another_visitor_everywhere():
    w = World()
    app, www = site(w), site(w)
    app.call("identify", ["u1"])
    first = www.call("user.anonymousId")
    app.call("identify", ["u2"])
    www.call("track", ["X"])
    event = last(w)
    assert event["userId"] == "u2" and event["anonymousId"] != first


def test_subdomains_never_hold_two_visitor_ids():
    w = World()
    pages = [site(w) for _ in range(4)]
    for n, page in enumerate(pages * 3):
        page.call("track", ["E" + str(n)])
        if n == 5:
            page.call("reset")
        if n == 8:
            page.call("identify", ["u" + str(n)])
    ids = {p.call("user.anonymousId") for p in pages}
    assert len(ids) == 1
    tracks = [e for e in deliver(w) if e["type"] == "track"]
    after_reset = [e["anonymousId"] for e in tracks if int(e["event"][1:]) > 5]
    assert len(after_reset) == 6 and set(after_reset) == ids


def test_the_cookie_says_what_it_holds_and_stays_small():
    w = World()
    app = site(w)
    app.call("identify", ["u1"])
    assert json.loads(w.cookies[SHARED_KEY][0]) == {"a": w.cookies[ANON_KEY][0], "u": "u1"}
    assert w.cookies[SHARED_KEY][1] == DOMAIN
    app.call("identify", ["x" * 256])  # the longest user ID the SDK takes: still under 1 KB in all
    assert sum(len(k) + len(v[0]) for k, v in w.cookies.items()) < 1024


def test_an_origin_whose_visitor_the_cookie_does_not_know_publishes_what_it_knows():
    w = World()
    w.cookies[ANON_KEY] = ("v-old", DOMAIN)  # an older SDK's visitor: no visitrail_uid yet
    app = site(w)
    app.identity.users.set(USER_KEY, json.dumps({"id": "u-kept", "traits": {}}))
    assert app.call("user.id") == "u-kept"
    assert json.loads(w.cookies[SHARED_KEY][0]) == {"a": "v-old", "u": "u-kept"}


def test_a_user_kept_for_the_page_only_is_not_shared():
    w = World()
    app = site(w, persistUser="false")
    app.call("identify", ["u1"])
    assert SHARED_KEY not in w.cookies
    assert site(w).call("user.id") is None


def test_local_storage_mode_shares_nothing_with_other_origins():
    w = World()
    a, _, _ = tab(w, local=DictStore({}))
    a.call("identify", ["u1"])
    b, _, _ = tab(w, local=DictStore({}))
    assert b.call("user.id") is None and SHARED_KEY not in w.cookies


def test_a_same_site_collectors_stale_refresh_never_undoes_a_change_made_meanwhile():
    # The collector's answer re-sets the cookies to what the request carried (collector/refresh.py).
    w = World()
    w.latency_ms = 500
    c, p, _ = tab(w, local=DictStore({}), idStorage="cookie", domain=DOMAIN, endpoint="https://c.example.test",
                  flushAt=1)  # fmt: skip
    assert c.delivery.credentialed  # the collector is within data-domain

    def refresh(credentialed):
        carried = dict(w.cookies)  # what left with the request
        return (lambda: w.cookies.update(carried)) if credentialed else None

    w.answer_hook = refresh
    c.call("track", ["Signed out"])
    w.advance(0)  # sent; its answer comes 500 ms later
    c.call("identify", ["u1"])  # meanwhile
    w.run_until_idle()
    assert json.loads(w.cookies[SHARED_KEY][0])["u"] == "u1"
    assert site(w).call("user.id") == "u1"  # another subdomain sees it too
    before = c.call("user.anonymousId")
    c.call("track", ["Again"])
    w.advance(0)
    c.call("reset")  # a new visitor while a request is on its way
    w.run_until_idle()
    assert w.cookies[ANON_KEY][0] == c.call("user.anonymousId") != before


def test_a_cross_site_collector_gets_no_cookies():
    w = World()
    c, p, _ = tab(w, local=DictStore({}), idStorage="cookie", domain=DOMAIN, endpoint="https://collector.other")
    assert not c.delivery.credentialed
    c.call("track", ["X"])
    deliver(w)
    assert p.credentialed is False
