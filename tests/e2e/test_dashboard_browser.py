"""The collector's dashboard in Chromium: a profile made by the SDK in a page shows up, with its
IDs, merged traits and timeline, and a hostile trait value is shown as text."""

import pytest

from .helpers import ADMIN_TOKEN

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)>"
READY = "window.analytics && window.analytics._q === 0"


def test_a_profile_from_the_page_is_shown_escaped(page, context, open_page, collector):
    site_page = open_page("plain.html")
    site_page.evaluate("t => analytics.identify('dash-user', {name: t, plan: 'pro'})", HOSTILE)
    site_page.evaluate("analytics.track('Viewed dashboard test')")
    visitor = site_page.evaluate("analytics.user().anonymousId()")
    assert site_page.evaluate("analytics.flush()") is True

    dialogs = []
    dash = context.new_page()
    dash.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    dash.goto(collector.url + "/")
    dash.fill("#login input[name=token]", ADMIN_TOKEN)
    dash.click("#login button[type=submit]")
    dash.fill("#search input[name=q]", "dash-user")
    dash.press("#search input[name=q]", "Enter")
    dash.locator(".profile-row a").first.click()

    dash.wait_for_selector("#traits")
    assert dash.locator("#user-ids").inner_text().strip() == "dash-user"
    assert visitor in dash.locator("#anonymous-ids").inner_text()
    assert HOSTILE in dash.locator("#traits").inner_text()
    assert dash.locator("#traits img").count() == 0
    events = dash.locator("#timeline .event")
    assert {"identify", "track"} <= {events.nth(i).get_attribute("data-type") for i in range(events.count())}
    assert dialogs == []


def test_the_dashboard_wants_the_admin_token(page, collector):
    page.goto(collector.url + "/")
    assert page.locator("#login").count() == 1
    assert page.locator("#profiles").count() == 0
    response = page.request.get(collector.url + "/api/profiles?query=dash")
    assert response.status == 401
