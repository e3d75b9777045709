"""Identity in a real browser: the visitor kept across loads and tabs, each storage mode, sign-in
and sign-out, blocked storage and bad input (the unit tests cover every rule; these prove the
browser's own storage and cookies behave as the rules assume)."""

import time
from urllib.parse import urlsplit

import pytest

from .helpers import wait_for

pytestmark = pytest.mark.e2e

READY = "window.analytics && window.analytics._q === 0"


def anon(page):
    return page.evaluate("analytics.user().anonymousId()")


def open_ready(page, url):
    page.goto(url)
    page.wait_for_function(READY)
    return page


@pytest.mark.pyodide
def test_visitor_id_survives_reload_and_a_new_tab(open_page, context, site):
    page = open_page("plain.html")
    first = anon(page)
    page.reload()
    page.wait_for_function(READY)
    assert anon(page) == first
    other = open_ready(context.new_page(), site.url + "/t/plain.html")
    assert anon(other) == first


def test_memory_mode_gives_a_new_visitor_per_load_and_stores_nothing(open_page, collector):
    page = open_page("memory.html")
    first = anon(page)
    page.reload()
    page.wait_for_function(READY)
    second = anon(page)
    assert first != second
    assert page.evaluate("analytics.flush()") is True
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('visitrail'))") == []
    assert page.evaluate("document.cookie") == ""
    collector.wait_for_events(1, anonymousId=second)


@pytest.mark.pyodide
def test_cookie_mode_shares_one_visitor_across_subdomains(context, site, collector):
    port = urlsplit(site.url).port
    a = open_ready(context.new_page(), f"http://a.example.test:{port}/t/cookie.html")
    visitor = anon(a)
    b = open_ready(context.new_page(), f"http://b.example.test:{port}/t/cookie.html")
    assert anon(b) == visitor
    cookies = {c["name"]: c for c in context.cookies() if c["name"] == "visitrail_aid"}
    assert cookies["visitrail_aid"]["value"] == visitor
    assert cookies["visitrail_aid"]["domain"] == ".example.test"
    assert cookies["visitrail_aid"]["sameSite"] == "Lax"
    assert cookies["visitrail_aid"]["expires"] > time.time() + 364 * 86400  # about a year
    assert b.evaluate("analytics.flush()") is True
    stored = collector.wait_for_events(2, anonymousId=visitor)
    assert {urlsplit(e["context"]["page"]["url"]).hostname for e in stored} == {"a.example.test", "b.example.test"}


def test_cookie_deleted_by_hand_is_restored_from_local_storage(context, site):
    port = urlsplit(site.url).port
    url = f"http://a.example.test:{port}/t/cookie.html"
    page = open_ready(context.new_page(), url)
    visitor = anon(page)
    context.clear_cookies()
    open_ready(page, url)
    assert anon(page) == visitor
    assert [c["value"] for c in context.cookies() if c["name"] == "visitrail_aid"] == [visitor]


@pytest.mark.pyodide
def test_identify_survives_reload_and_reset_leaves_nothing_behind(open_page, collector):
    page = open_page("plain.html")
    page.evaluate("analytics.identify('user-7', {plan: 'pro', email: 'u7@example.test'})")
    page.reload()
    page.wait_for_function(READY)
    page.evaluate("analytics.track('After reload')")
    visitor = anon(page)
    assert page.evaluate("analytics.flush()") is True
    track = [e for e in collector.wait_for_events(3, userId="user-7") if e["type"] == "track"]
    assert track and track[0]["anonymousId"] == visitor
    assert page.evaluate("analytics.user().traits()") == {"plan": "pro", "email": "u7@example.test"}

    page.evaluate("analytics.reset()")
    page.evaluate("analytics.track('Signed out')")
    assert page.evaluate("analytics.flush()") is True
    after = anon(page)
    assert after != visitor and page.evaluate("analytics.user().id()") is None
    stored = page.evaluate("JSON.stringify(localStorage) + document.cookie")
    assert "user-7" not in stored and visitor not in stored
    signed_out = collector.wait_for_events(1, anonymousId=after)
    assert all("userId" not in e for e in signed_out)


@pytest.mark.pyodide
def test_blocked_local_storage_still_delivers_with_a_working_visitor_id(open_page, collector, record):
    page = open_page("blocked-storage.html")
    visitor = anon(page)
    assert len(visitor) == 36
    assert page.evaluate("analytics.flush()") is True
    tracks = [e for e in collector.wait_for_events(1, anonymousId=visitor) if e["type"] == "track"]
    assert [e["event"] for e in tracks] == ["Blocked storage"]
    warnings = [t for kind, t in record.console if kind == "warning" and "localStorage" in t]
    assert len(warnings) == 1
    assert record.console_of("error") == []


def test_bad_input_logs_one_error_per_call_and_valid_calls_arrive(open_page, collector, record):
    page = open_page("bad-input.html")
    assert page.evaluate("window.threw") == []
    page.evaluate("analytics.identify(42, 'x')")
    page.evaluate("analytics.track('Valid after boot')")
    visitor = anon(page)
    assert page.evaluate("analytics.flush()") is True
    stored = wait_for(
        lambda: (lambda e: e if len(e) >= 5 else None)(
            [e for e in collector.events(anonymousId=visitor) if e["type"] == "track"]
        ),
        what="five tracks",
    )
    by_name = {e["event"]: e for e in stored}
    assert set(by_name) == {"With a function", "With a cycle", "With a node", "Valid before boot", "Valid after boot"}
    assert by_name["With a function"]["properties"] == {"ok": 1}
    assert by_name["With a cycle"]["properties"] == {"name": "loop"}
    assert by_name["With a node"]["properties"] == {}
    assert all("userId" not in e for e in stored)
    errors = [t for kind, t in record.console if kind == "error"]
    assert len([t for t in errors if "identify" in t]) == 3, errors  # 42/'x' twice, null once
    assert len([t for t in errors if "track" in t]) == 3, errors  # function, cycle, node
