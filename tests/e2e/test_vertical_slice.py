"""One page, one tag: calls made before and after the SDK is up reach the collector, in order,
under one visitor; nothing leaves the machine and the runtime leaves no trace in the page."""

import pytest

from .helpers import wait_for

pytestmark = pytest.mark.e2e


def stored_calls(collector, anonymous_id):
    events = collector.events(anonymousId=anonymous_id)
    calls = [e for e in events if e["type"] in ("identify", "track")]
    return calls if len(calls) == 2 else None


@pytest.mark.pyodide
def test_queued_and_live_calls_are_stored_in_order(open_page, collector, record):
    page = open_page("slice.html")
    page.wait_for_function("window.tracked === true")
    anonymous_id = page.evaluate("analytics.user().anonymousId()")
    assert page.evaluate("analytics.flush()") is True

    identify, track = wait_for(lambda: stored_calls(collector, anonymous_id), what="identify and track stored")

    assert identify["type"] == "identify"
    assert identify["userId"] == "u1"
    assert identify["traits"]["plan"] == "pro"
    assert track["type"] == "track"
    assert track["event"] == "Clicked"
    assert track["userId"] == "u1"
    assert identify["anonymousId"] == track["anonymousId"] == anonymous_id
    assert page.evaluate("analytics.user().id()") == "u1"
    assert record.console_of("error") == []


@pytest.mark.pyodide
def test_the_runtime_paints_nothing_into_the_page(open_page):
    page = open_page("slice.html")
    page.wait_for_function("window.tracked === true")
    before = page.evaluate("window.before")
    after = page.evaluate(
        """() => ({
            html: document.body.innerHTML,
            text: document.body.innerText,
            added: [...document.querySelectorAll("*")].filter(el => !el.__original).map(el => ({
                tag: el.localName, inBody: document.body.contains(el), boxes: el.getClientRects().length,
            })),
        })"""
    )
    assert after["html"] == before["html"]
    assert after["text"] == before["text"]
    # The loader's own elements, all in <head>, none rendered.
    assert {el["tag"] for el in after["added"]} <= {"py-config", "mpy-config", "script", "link"}  # link: preloads
    assert not [el for el in after["added"] if el["inBody"] or el["boxes"]]
