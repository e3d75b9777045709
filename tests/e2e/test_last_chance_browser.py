"""The last-chance beacon: calls made before the runtime is up reach the collector even when the
visitor leaves for another site at once and never comes back; the loader's own page view first.

The visits leave from leave-at-once.html, whose inline script identifies, tracks and sets
location.href before the page's `load`: the runtime is never even asked for. Each visitor stays on
the other site until the beacon has arrived: a tab sent back to the site milliseconds after it
left (as a loop of visits does, not a person) now and then takes the previous page's beacon down
with it in this Chromium, about one visit in fifty, so the next visit waits for the last one's."""

from urllib.parse import urlencode, urlsplit

import pytest

from .helpers import wait_for

pytestmark = pytest.mark.e2e

READY = "window.analytics && window.analytics._q === 0"


def away_url(site):
    return f"http://localhost:{urlsplit(site.url).port}/t/no-sdk.html"  # another origin


def calls_of(collector, user):
    return [e for e in collector.events(userId=user) if e["type"] in ("identify", "track")]


def leave_at_once(page, site, user, away=None):
    """A page that identifies `user`, tracks and goes to `away` (another site), all before its load event."""
    away = away or away_url(site)
    page.goto(site.url + "/t/leave-at-once.html?" + urlencode({"user": user, "away": away}), wait_until="commit")
    page.wait_for_url(away)


def beaconed(collector, user):
    """The identify and track of a visit left at once, once the collector has them."""
    return wait_for(
        lambda: (lambda e: e if len(e) >= 2 else None)(calls_of(collector, user)),
        what=f"identify and track of {user}",
    )


def test_visitors_who_leave_before_boot_and_never_return_are_not_lost(page, site, collector):
    for user in [f"gone-{i}" for i in range(20)]:
        leave_at_once(page, site, user)
        got = beaconed(collector, user)
        assert sorted(e["type"] for e in got) == ["identify", "track"]
        track = [e for e in got if e["type"] == "track"][0]
        assert track["userId"] == user and track["properties"] == {"via": "redirect"}
        assert track["context"]["library"]["name"] == "visitrail" and track["context"]["sessionId"]


def test_a_visitor_who_comes_back_is_stored_once_per_call(page, site, collector):
    users = [f"back-{i}" for i in range(20)]
    for user in users:
        leave_at_once(page, site, user)
        beaconed(collector, user)
    page.goto(site.url + "/t/plain.html")  # the return: the SDK boots and replays the saved calls
    page.wait_for_function(READY)
    assert page.evaluate("analytics.flush()") is True
    assert page.evaluate("localStorage.visitrail_calls === undefined")
    for user in users:
        got = calls_of(collector, user)
        assert sorted(e["type"] for e in got) == ["identify", "track"], user


def test_a_first_visit_left_at_once_keeps_the_visitor_the_sdk_adopts(page, site, collector):
    leave_at_once(page, site, "first-visit")
    visitors = {e["anonymousId"] for e in beaconed(collector, "first-visit")}
    page.goto(site.url + "/t/plain.html")
    page.wait_for_function(READY)
    assert visitors == {page.evaluate("analytics.user().anonymousId()")}


@pytest.mark.pyodide
def test_the_loaders_page_view_is_first_and_survives_leaving_at_once(page, site, collector):
    # As a new user's sign-up makes it: identify and track, then location.href in the same task,
    # before the runtime boots, to another site (never back: the beacon) or to the site's next page
    # (which boots and replays the saved calls; the collector stores each messageId once).
    for i in range(11):
        user = f"first-page-{i}"
        page.goto(site.url + "/t/no-sdk.html")
        page.evaluate("localStorage.clear()")  # a new visitor each time
        if i % 2:
            leave_at_once(page, site, user)
            beaconed(collector, user)
        else:
            leave_at_once(page, site, user, away=site.url + "/t/plain.html")
            page.wait_for_function(READY)
            assert page.evaluate("analytics.flush()") is True
        identify = [e for e in beaconed(collector, user) if e["type"] == "identify"][0]
        visit = collector.events(anonymousId=identify["anonymousId"])  # the page view came before the identify
        ordered = sorted(visit, key=lambda e: e["context"]["sessionSequence"])
        assert [e["type"] for e in ordered[:3]] == ["page", "identify", "track"], user
        view = ordered[0]
        assert view["context"]["page"]["path"] == "/t/leave-at-once.html"
        assert view["properties"]["path"] == "/t/leave-at-once.html"
        assert view["originalTimestamp"] <= ordered[1]["originalTimestamp"] <= ordered[2]["originalTimestamp"]
        assert [e["messageId"] for e in visit].count(view["messageId"]) == 1
        assert len({e["context"]["sessionId"] for e in ordered}) == 1
