"""Consent and privacy signals in a real browser: without consent nothing is stored or sent."""

import pytest

from .helpers import epoch_ms

pytestmark = pytest.mark.e2e

READY = "window.analytics && window.analytics._q === 0"
OWN_STORAGE = "Object.keys(localStorage).filter(k => k.startsWith('visitrail')).sort()"


def collector_posts(record, collector):
    return [u for u in record.requests if u.startswith(collector.url + "/v1/")]


def test_pending_consent_stores_and_sends_nothing_until_granted(open_page, context, collector, record):
    context.clock.install()
    page = open_page("consent.html")
    called_at = page.evaluate("Date.now()")
    page.evaluate("analytics.track('While pending')")
    context.clock.run_for(5000)
    assert page.evaluate(OWN_STORAGE) == []
    assert page.evaluate("document.cookie") == ""
    assert collector_posts(record, collector) == []
    assert collector.events(userId="consent-user") == []

    context.clock.fast_forward("10:00")
    page.evaluate("analytics.consent.grant()")
    page.evaluate("analytics.flush()")
    stored = collector.wait_for_events(3, userId="consent-user")
    tracks = {e["event"]: e for e in stored if e["type"] == "track"}
    assert set(tracks) == {"Before consent", "While pending"}
    # Sent with the times they were made at, not the time of the grant, ten minutes later.
    for e in tracks.values():
        assert abs(epoch_ms(e["originalTimestamp"]) - called_at) < 60000
    assert page.evaluate("localStorage.visitrail_consent") == "granted"


def test_a_denied_choice_persists_and_nothing_is_ever_sent(open_page, collector, record):
    page = open_page("consent.html")
    page.evaluate("analytics.consent.deny()")
    page.evaluate("analytics.track('After deny')")
    page.reload()
    page.wait_for_function(READY)
    page.evaluate("analytics.track('Next page')")
    assert page.evaluate(OWN_STORAGE) == ["visitrail_consent"]
    assert collector_posts(record, collector) == []


@pytest.fixture
def dnt_attribute(site):
    """dnt_attribute(text): the data-respect-dnt attribute, as written, of /t/dnt.html's tag."""

    def set_to(text):
        site.values["dntAttribute"] = text

    yield set_to
    site.values.pop("dntAttribute", None)


# One rule for every data-* flag (core/options.py; the loader reads this one itself): on when
# present, unless "false", "0", "no" or "off".
@pytest.mark.parametrize("attribute", ["data-respect-dnt", 'data-respect-dnt="true"', 'data-respect-dnt="Yes"'])
def test_do_not_track_leaves_the_sdk_inert(page, site, collector, record, dnt_attribute, attribute):
    dnt_attribute(attribute)
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})")
    page.goto(site.url + "/t/dnt.html")
    page.evaluate("analytics.ready()")  # resolves, so a site waiting on it does not hang
    assert page.evaluate("analytics.flush()") is True
    page.goto(site.url + "/t/no-sdk.html")  # leaving sends no beacon either
    assert collector_posts(record, collector) == []
    assert not [u for u in record.requests if "/analytics/" in u and not u.endswith("/loader.js")]  # no runtime
    assert page.evaluate(OWN_STORAGE) == []


@pytest.mark.parametrize("attribute", ['data-respect-dnt="false"', 'data-respect-dnt=" OFF "', ""])
def test_do_not_track_is_ignored_unless_the_tag_asks(open_page, collector, dnt_attribute, attribute):
    dnt_attribute(attribute)
    page = open_page("dnt.html", ready=False)
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})")
    page.reload()
    page.wait_for_function(READY)
    assert page.evaluate("analytics.flush()") is True
    assert [e["event"] for e in collector.events(userId="dnt-user") if e["type"] == "track"][-1:] == [
        "Tracked under GPC"
    ]
