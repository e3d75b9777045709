"""The visitor's cookie refreshed by a collector of the site's own domain, as Chromium stores it:
re-set for a year by the batch's own answer (no request of its own), at most once a day."""

import time
from urllib.parse import urlsplit

import pytest

from visitrail.collector.demo.process import CollectorProcess

from .helpers import ADMIN_TOKEN

pytestmark = pytest.mark.e2e

READY = "window.analytics && window.analytics._q === 0"
YEAR_S = 365 * 86400


@pytest.fixture(scope="module")
def same_site_collector(dist, site, tmp_path_factory):
    """A collector reached as collect.example.test (Chromium maps it to 127.0.0.1), for pages of
    a.example.test: the same site. Its source refreshes cookies of .example.test."""
    port = site.server_address[1]
    db = "sqlite:///" + str(tmp_path_factory.mktemp("refresh") / "events.db")
    proc = CollectorProcess(db, ADMIN_TOKEN, [f"http://a.example.test:{port}"], write_key="e2e-refresh",
                            extra_args=["--cookie-domain", ".example.test"])  # fmt: skip
    url = proc.start()
    site.values["refreshCollector"] = f"http://collect.example.test:{urlsplit(url).port}"
    yield
    proc.stop()


def cookies(context):
    return {c["name"]: c for c in context.cookies()}


def shorten(context, name, seconds=600):
    """What Safari does to a cookie that script wrote: an expiry days away (here, minutes)."""
    cookie = dict(cookies(context)[name], expires=time.time() + seconds)
    context.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path", "expires", "sameSite")}])


def test_the_batch_answer_refreshes_the_visitors_cookie_for_a_year_once_a_day(context, site, same_site_collector):
    page = context.new_page()
    page.goto(f"http://a.example.test:{site.server_address[1]}/t/refresh.html")
    page.wait_for_function(READY)
    page.evaluate("analytics.identify('refreshed-user')")
    visitor = page.evaluate("analytics.user().anonymousId()")
    assert page.evaluate("analytics.flush()") is True  # the first batch of the day: refreshed
    assert cookies(context)["visitrail_refreshed"]["httpOnly"] is True
    # A day later (the marker gone), with the SDK's cookies capped as Safari caps script cookies:
    context.clear_cookies(name="visitrail_refreshed")
    shorten(context, "visitrail_aid")
    shorten(context, "visitrail_uid")
    page.evaluate("analytics.track('The next day')")
    assert page.evaluate("analytics.flush()") is True

    stored = cookies(context)
    assert stored["visitrail_aid"]["value"] == visitor and stored["visitrail_aid"]["domain"] == ".example.test"
    assert stored["visitrail_aid"]["expires"] > time.time() + YEAR_S - 86400  # the server's year, not 10 minutes
    assert stored["visitrail_aid"]["httpOnly"] is False and stored["visitrail_aid"]["sameSite"] == "Lax"
    assert stored["visitrail_uid"]["expires"] > time.time() + YEAR_S - 86400
    assert stored["visitrail_refreshed"]["httpOnly"] is True
    assert page.evaluate("analytics.user().id()") == "refreshed-user", (
        stored,
        page.evaluate("document.cookie"),
    )  # the SDK still reads them

    shorten(context, "visitrail_aid")  # the same day: not refreshed again
    page.evaluate("analytics.track('Later that day')")
    assert page.evaluate("analytics.flush()") is True
    assert cookies(context)["visitrail_aid"]["expires"] < time.time() + 3600


def test_a_cross_site_collector_gets_no_cookies_and_sets_none(context, site, collector):
    page = context.new_page()
    page.goto(f"http://a.example.test:{site.server_address[1]}/t/cookie.html")  # the collector: 127.0.0.1
    page.wait_for_function(READY)
    assert page.evaluate("analytics.flush()") is True
    assert "visitrail_refreshed" not in cookies(context)
