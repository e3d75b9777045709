"""One person across subdomains and domains, in Chromium: in cookie mode an identify or a reset on
one subdomain is what the next event of every other subdomain carries (new pages and tabs already
open), with one visitor ID; across registrable domains the linker carries the visitor and the
session in the link (by decorate() and by click), and the landing page takes them, or refuses."""

import pytest

from .helpers import wait_for

pytestmark = pytest.mark.e2e

READY = "window.analytics && window.analytics._q === 0"


def opened(context, url):
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(READY)
    return page


def subdomain(site, name, path="/t/cookie.html"):
    return f"http://{name}.example.test:{site.server_address[1]}{path}"


def last_track(collector, page, name):
    """The stored track `name` that `page` just made (flushed first)."""
    assert page.evaluate("analytics.flush()") is True
    return wait_for(
        lambda: next((e for e in reversed(collector.events()) if e.get("event") == name), None), what=f"track {name}"
    )


@pytest.mark.pyodide
def test_subdomains_follow_each_other_in_and_out(context, site, collector, runtime):
    a = opened(context, subdomain(site, "a"))
    b = opened(context, subdomain(site, "b"))  # open before anyone signs in
    visitors = set()
    user = f"across-{runtime}"

    a.evaluate(f"analytics.identify('{user}', {{plan: 'pro'}})")
    b.evaluate("analytics.track('B after the identify')")
    event = last_track(collector, b, "B after the identify")
    assert event["userId"] == user and b.evaluate("analytics.user().id()") == user
    visitors.add(event["anonymousId"])
    fresh = opened(context, subdomain(site, "b"))  # a new page of that subdomain
    assert fresh.evaluate("analytics.user().id()") == user
    visitors.add(fresh.evaluate("analytics.user().anonymousId()"))
    assert len(visitors) == 1  # one visitor on both subdomains

    a.evaluate("analytics.reset()")
    b.evaluate("analytics.track('B after the reset')")
    event = last_track(collector, b, "B after the reset")
    assert "userId" not in event and event["anonymousId"] not in visitors
    assert event["anonymousId"] == a.evaluate("analytics.user().anonymousId()")  # 0 divergences
    assert b.evaluate("analytics.user().id()") is None and fresh.evaluate("analytics.user().id()") is None
    later = opened(context, subdomain(site, "a", "/t/cookie.html"))
    assert later.evaluate("analytics.user().anonymousId()") == event["anonymousId"]
    shared = {c["name"]: c for c in context.cookies()}["visitrail_uid"]
    assert shared["domain"] == ".example.test" and len(shared["value"]) < 1024


@pytest.fixture
def linked_sites(site):
    """Two registrable domains of one owner: 127.0.0.1 links to a.example.test and back."""
    port = site.server_address[1]
    there = f"http://a.example.test:{port}/t/linked.html"
    site.values.update(linkDomains="a.example.test,127.0.0.1", linkTarget=there)
    yield site.url + "/t/linked.html", there
    for key in ("linkDomains", "linkTarget"):
        site.values.pop(key, None)


def test_a_click_carries_the_visitor_and_the_session_to_the_other_domain(context, collector, linked_sites):
    here_url, there_url = linked_sites
    here = opened(context, here_url)
    visitor, session = here.evaluate("[analytics.user().anonymousId(), analytics.session().id()]")
    with here.expect_navigation():
        here.click("#out")
    here.wait_for_function(READY)
    assert here.url == there_url  # the token left the address bar
    assert here.evaluate("[analytics.user().anonymousId(), analytics.session().id()]") == [visitor, session]
    here.evaluate("analytics.track('On the other domain')")
    event = last_track(collector, here, "On the other domain")
    assert event["anonymousId"] == visitor and event["context"]["sessionId"] == session
    pages = [e for e in collector.events(anonymousId=visitor) if e["type"] == "page"]
    assert {e["context"]["page"]["url"] for e in pages} == {here_url, there_url}  # no token in any event
    assert "vt_link" not in str(collector.events(anonymousId=visitor))


def test_decorate_by_call_and_the_refusals(context, collector, linked_sites):
    here_url, there_url = linked_sites
    here = opened(context, here_url)
    visitor = here.evaluate("analytics.user().anonymousId()")
    decorated = here.evaluate(f"analytics.decorate('{there_url}')")
    assert decorated.startswith(there_url + "?vt_link=")

    # Expired: the link is followed three minutes later (fake time, on both pages).
    context.clock.install()
    late = context.new_page()
    late.clock.fast_forward("03:00")
    late.goto(decorated)
    late.wait_for_function(READY)
    assert late.url == there_url and late.evaluate("analytics.user().anonymousId()") != visitor


def test_a_signed_in_browser_keeps_its_own_visitor(context, linked_sites):
    here_url, there_url = linked_sites
    there = opened(context, there_url)
    there.evaluate("analytics.identify('shop-user')")
    own = there.evaluate("analytics.user().anonymousId()")
    here = opened(context, here_url)
    decorated = here.evaluate(f"analytics.decorate('{there_url}')")
    there.goto(decorated)
    there.wait_for_function(READY)
    assert there.evaluate("[analytics.user().anonymousId(), analytics.user().id()]") == [own, "shop-user"]
    assert there.url == there_url
