"""The last-chance beacon: calls made before the runtime is up reach the collector even when the
visitor leaves for another site at once and never comes back."""

from urllib.parse import urlsplit

import pytest

from .helpers import wait_for

pytestmark = pytest.mark.e2e

READY = "window.analytics && window.analytics._q === 0"
LEAVE = """([user, away]) => {
    analytics.identify(user, {plan: 'pro'});
    analytics.track('Signed up', {via: 'beacon'});
    location.href = away;
}"""


def away_url(site):
    return f"http://localhost:{urlsplit(site.url).port}/t/no-sdk.html"  # another origin


def calls_of(collector, user):
    return [e for e in collector.events(userId=user) if e["type"] in ("identify", "track")]


def leave_at_once(page, site, user):
    page.goto(site.url + "/t/plain.html")
    page.evaluate(LEAVE, [user, away_url(site)])
    page.wait_for_url(away_url(site))


def test_visitors_who_leave_before_boot_and_never_return_are_not_lost(page, site, collector, runtime):
    page.route(runtime.binary, lambda route: route.abort())  # the SDK never boots
    users = [f"gone-{i}" for i in range(20)]
    for user in users:
        leave_at_once(page, site, user)
    for user in users:
        got = wait_for(
            lambda: (lambda e: e if len(e) >= 2 else None)(calls_of(collector, user)),
            what=f"identify and track of {user}",
        )
        assert sorted(e["type"] for e in got) == ["identify", "track"]
        track = [e for e in got if e["type"] == "track"][0]
        assert track["userId"] == user and track["properties"] == {"via": "beacon"}
        assert track["context"]["library"]["name"] == "visitrail" and track["context"]["sessionId"]


def test_a_visitor_who_comes_back_is_stored_once_per_call(page, site, collector, runtime):
    page.route(runtime.binary, lambda route: route.abort())
    users = [f"back-{i}" for i in range(20)]
    for user in users:
        leave_at_once(page, site, user)
    for user in users:
        wait_for(lambda: len(calls_of(collector, user)) >= 2, what=f"the beacon of {user}")
    page.unroute(runtime.binary)
    page.goto(site.url + "/t/plain.html")  # the return: the SDK boots and replays the saved calls
    page.wait_for_function(READY)
    assert page.evaluate("analytics.flush()") is True
    assert page.evaluate("localStorage.visitrail_calls === undefined")
    for user in users:
        got = calls_of(collector, user)
        assert sorted(e["type"] for e in got) == ["identify", "track"], user


def test_a_first_visit_left_at_once_keeps_the_visitor_the_sdk_adopts(page, site, collector, runtime):
    page.route(runtime.binary, lambda route: route.abort())
    leave_at_once(page, site, "first-visit")
    got = wait_for(
        lambda: (lambda e: e if len(e) >= 2 else None)(calls_of(collector, "first-visit")),
        what="the first visit's calls",
    )
    beaconed = {e["anonymousId"] for e in got}
    page.unroute(runtime.binary)
    page.goto(site.url + "/t/plain.html")
    page.wait_for_function(READY)
    assert beaconed == {page.evaluate("analytics.user().anonymousId()")}
