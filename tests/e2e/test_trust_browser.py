"""Signed identity from a page: a token from the site's backend makes the profile verified; an
expired one is reported once in the console while the visitor's anonymous events keep arriving;
a collector in `required` mode refuses an identify forged in the console."""

import httpx
import pytest

from visitrail.collector.demo.process import CollectorProcess
from visitrail.collector.tokens import issue_identity_token

from .helpers import ADMIN_TOKEN, wait_for

# Tokens are checked by the collector; the runtime only carries them: one runtime is enough.
pytestmark = [pytest.mark.e2e, pytest.mark.runtimes("mpy")]

SECRET = "e2e-identity-secret-of-at-least-32-bytes!"
READY = "window.analytics && window.analytics._q === 0"


@pytest.fixture(scope="module", params=["verified", "required"])
def trusted(request, dist, site, collectors, tmp_path_factory):
    """A collector whose source `e2e-verified` checks identity tokens (mode: the param)."""
    db = "sqlite:///" + str(tmp_path_factory.mktemp("trust") / "events.db")
    proc = CollectorProcess(
        db,
        ADMIN_TOKEN,
        [site.url],
        write_key="e2e-verified",
        extra_args=["--identity-mode", request.param, "--identity-secret", SECRET],
    )
    url = proc.start()
    site.values["verifiedCollector"] = url
    http = httpx.Client(base_url=url, headers={"Authorization": "Bearer " + ADMIN_TOKEN}, timeout=10)
    yield request.param, http
    http.close()
    proc.stop()


def events(http, **filters):
    return http.get("/api/events", params=filters).json()["events"]


def test_a_valid_token_verifies_the_profile(trusted, page, site):
    mode, http = trusted
    page.goto(site.url + "/t/token.html")
    page.wait_for_function(READY)
    token = issue_identity_token(SECRET, "signed-" + mode, 600, audience="e2e-verified")
    page.evaluate("([u, t]) => analytics.identify(u, {plan: 'pro'}, {identityToken: t})", ["signed-" + mode, token])
    page.evaluate("analytics.track('Signed in')")
    assert page.evaluate("analytics.flush()") is True
    wait_for(lambda: len(events(http, userId="signed-" + mode)) >= 2, what="the signed-in events")
    profile = http.get("/api/profiles/lookup", params={"userId": "signed-" + mode}).json()
    assert profile["verified"] is True
    assert profile["traits"]["plan"] == "pro"
    stored = events(http, userId="signed-" + mode)
    assert all("identityToken" not in e.get("context", {}) for e in stored)  # never stored


def test_an_expired_token_is_reported_once_and_anonymous_events_still_arrive(trusted, page, site, record):
    mode, http = trusted
    user = "expired-" + mode
    page.goto(site.url + "/t/token.html")
    page.wait_for_function(READY)
    expired = issue_identity_token(SECRET, user, -60, audience="e2e-verified")
    page.evaluate("([u, t]) => analytics.identify(u, {}, {identityToken: t})", [user, expired])
    page.evaluate("analytics.track('With an expired token')")
    page.evaluate("analytics.flush()")
    page.evaluate("analytics.reset()")
    page.evaluate("analytics.track('Anonymous after sign-out')")
    visitor = page.evaluate("analytics.user().anonymousId()")
    page.evaluate("analytics.flush()")
    wait_for(lambda: events(http, anonymousId=visitor), what="the anonymous event")
    errors = [t for kind, t in record.console if kind == "error" and "identity token expired" in t]
    profile = http.get("/api/profiles/lookup", params={"userId": user})
    if mode == "required":
        # Refused, and said once in the console; the user's events are not stored.
        assert len(errors) == 1
        assert profile.status_code == 404
    else:
        # Stored, but they cannot verify the profile (nor change a verified profile's traits).
        assert profile.json()["verified"] is False


def test_a_forged_identify_from_the_console(trusted, page, site):
    mode, http = trusted
    page.goto(site.url + "/t/token.html")
    page.wait_for_function(READY)
    page.evaluate("analytics.identify('ceo-" + mode + "', {role: 'owner'})")  # no token at all
    page.evaluate("analytics.track('Forged')")
    visitor = page.evaluate("analytics.user().anonymousId()")
    page.evaluate("analytics.flush()")
    if mode == "required":
        # Nothing that claims the user is stored; the collector still answered, so the SDK is done.
        assert events(http, userId="ceo-required") == []
    else:
        wait_for(lambda: events(http, userId="ceo-verified"), what="the unverified events")
        profile = http.get("/api/profiles/lookup", params={"userId": "ceo-verified"}).json()
        assert profile["verified"] is False
    assert visitor
