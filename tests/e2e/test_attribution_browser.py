"""Attribution in a real browser: the entry page's utm_* and click IDs (Segment's context.campaign)
and the session's entry (context.sessionEntry) on every event of the session, also on a later page
without them, and on the events the collector builds from a landing page left before boot; the
automation hint (Playwright's Chromium has navigator.webdriver true)."""

from urllib.parse import urlsplit

import pytest

from .helpers import wait_for

pytestmark = pytest.mark.e2e

READY = "window.analytics && window.analytics._q === 0"
REFERRER = "https://news.example.org/spring-issue"
QUERY = (
    "utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale&utm_term=running+shoes&utm_content=hero"
    "&gclid=G-1&gbraid=GB-1&wbraid=WB-1&fbclid=F-1&msclkid=M-1&ttclid=T-1&li_fat_id=L-1&twclid=X-1&plan=pro"
)
CAMPAIGN = {
    "source": "newsletter",
    "medium": "email",
    "name": "spring sale",
    "term": "running shoes",
    "content": "hero",
    "gclid": "G-1",
    "gbraid": "GB-1",
    "wbraid": "WB-1",
    "fbclid": "F-1",
    "msclkid": "M-1",
    "ttclid": "T-1",
    "li_fat_id": "L-1",
    "twclid": "X-1",
}


def landing_url(site):
    return site.url + "/t/plain.html?" + QUERY


def assert_attributed(events, site):
    for e in events:
        where = (e["type"], e.get("event"), e["context"].get("page", {}).get("url"))
        assert e["context"].get("campaign") == CAMPAIGN, where
        assert e["context"].get("sessionEntry") == {"url": landing_url(site), "referrer": REFERRER}, where
        assert e["context"].get("automation") is True, where
    assert len({e["context"]["sessionId"] for e in events}) == 1


@pytest.mark.pyodide
def test_the_entry_pages_campaign_attributes_every_event_of_the_session(page, site, collector):
    page.goto(landing_url(site), referer=REFERRER)
    page.wait_for_function(READY)
    page.evaluate("analytics.identify('attributed-user', {plan: 'pro'}); analytics.track('Landed')")
    # A later page of the same visit: its URL has no parameters left.
    page.goto(site.url + "/t/plain.html")
    page.wait_for_function(READY)
    page.evaluate("analytics.group('acme'); analytics.track('Later')")
    assert page.evaluate("analytics.flush()") is True
    visitor = page.evaluate("analytics.user().anonymousId()")
    events = wait_for(
        lambda: (lambda e: e if len(e) >= 7 else None)(collector.events(anonymousId=visitor)),
        what="the events of both pages",
    )
    kinds = sorted((e["type"], e.get("event") or "") for e in events)
    assert kinds == [
        ("group", ""),
        ("identify", ""),
        ("page", ""),
        ("page", ""),
        ("track", "Landed"),
        ("track", "Later"),
        ("track", "Page Left"),
    ]
    assert_attributed(events, site)
    later = [e for e in events if e.get("event") == "Later"][0]
    assert later["context"]["page"]["url"] == site.url + "/t/plain.html"  # the page is the page's own
    assert later["context"]["page"]["search"] == ""
    # The collector's session: entered on the landing page, from the referrer, with its campaign;
    # a bot's (Playwright's Chromium says navigator.webdriver), so listed only when asked for.
    profile_id = collector.profile(anonymousId=visitor)["profileId"]
    [session] = collector.sessions(profileId=profile_id)
    assert session["entryUrl"] == landing_url(site) and session["referrer"] == REFERRER
    assert session["exitUrl"] == site.url + "/t/plain.html"
    assert session["campaign"] == {k: CAMPAIGN[k] for k in ("source", "medium", "name", "term", "content")}
    assert session["clickIds"] == {k: v for k, v in CAMPAIGN.items() if k not in session["campaign"]}
    assert (session["pageViews"], session["eventCount"], session["bot"]) == (2, 7, True)
    assert session["sessionId"] == events[0]["context"]["sessionId"]
    since = {"from": session["firstSeen"]}  # the collector is shared by this runtime's tests
    assert session["sessionId"] in [s["sessionId"] for s in collector.sessions(bots="include", **since)]
    assert session["sessionId"] not in [s["sessionId"] for s in collector.sessions(**since)]


def test_a_landing_page_left_before_boot_is_attributed_by_the_collector(page, site, collector, runtime):
    page.route(runtime.binary, lambda route: route.abort())  # the SDK never boots: /v1/calls
    away = f"http://localhost:{urlsplit(site.url).port}/t/no-sdk.html"
    page.goto(landing_url(site), referer=REFERRER)
    page.evaluate(
        "away => { analytics.identify('gone-attributed'); analytics.track('Signed up'); location.href = away; }", away
    )
    page.wait_for_url(away)
    (identify, _) = wait_for(
        lambda: (lambda e: e if len(e) >= 2 else None)(collector.events(userId="gone-attributed")),
        what="the beacon's identify and track",
    )
    events = collector.events(anonymousId=identify["anonymousId"])  # the page view came before the identify
    assert sorted(e["type"] for e in events) == ["identify", "page", "track"]
    assert_attributed(events, site)
