"""Set-once traits from a page: `identify(id, traits, {setOnce})` from the page's Python and from
page JS arrive as `context.traitsOnce`, and the profile keeps the first value of each key, over
the regular traits of the same key."""

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.pyodide
def test_set_once_traits_from_page_python_and_js_reach_the_profile(open_page, run_python, collector, record):
    page = open_page("set-once.html")
    page.wait_for_function("window.pythonRan === true")  # its identify, queued before the SDK was up
    page.evaluate("analytics.identify('once-user', {plan: 'pro'}, {setOnce: {signup: '/later', source: 'js'}})")
    first = {"plan": "trial", "signup": "/pricing", "source": "js"}
    assert run_python("from visitrail import analytics\nresult = analytics.user().traits()") == first
    assert page.evaluate("analytics.flush()") is True
    identifies = collector.wait_for_events(2, userId="once-user")
    assert [(e["type"], e["traits"], e["context"]["traitsOnce"]) for e in identifies] == [
        ("identify", {"plan": "free"}, {"signup": "/pricing", "plan": "trial"}),
        ("identify", {"plan": "pro"}, {"signup": "/later", "source": "js"}),
    ]
    profile = collector.profile(userId="once-user")
    assert profile is not None
    assert {key: value for key, value in profile["traits"].items() if not key.startswith("initial_")} == first
    assert profile["traits"]["initial_landing_url"] == page.url  # the first visit's, derived
    assert record.console_of("error") == []
