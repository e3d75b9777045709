"""The browser adapter (browser/platform.py on the FFI shim browser/ffi.py) in Chromium, on each
runtime: the Platform contract, checked from Python running in the page next to the booted SDK
(run_python). `Adapter` is the browser platform, the same class on every runtime."""

import json
import time

import pytest

# The FFI differences (null, proxies for callbacks, JS exceptions) are what these tests are about:
# all of them run on Pyodide too.
pytestmark = [pytest.mark.e2e, pytest.mark.pyodide]

IMPORTS = (
    "from visitrail.browser.platform import WebPlatform as Adapter, LocalStore, CookieStore\n"
    "from visitrail.browser.ffi import JsError, window\n"
)


def test_local_store_round_trip(open_page, run_python):
    page = open_page("plain.html")
    result = run_python(
        IMPORTS + "s = Adapter().local_store()\n"
        "missing = s.get('e2e-missing')\n"
        "s.set('e2e-k', 'v 1/é')\n"
        "got = s.get('e2e-k')\n"
        "s.remove('e2e-k')\n"
        "result = [missing, got, s.get('e2e-k'), s.name]\n"
    )
    assert result == [None, "v 1/é", None, "localStorage"]
    assert page.evaluate("localStorage.getItem('e2e-k')") is None


def test_a_js_exception_from_blocked_storage_is_a_python_exception(open_page, run_python, collector):
    """MicroPython lets a JS exception unwind through Python; the adapter must turn it into one."""
    page = open_page("blocked-storage.html")
    result = run_python(
        IMPORTS + "out = []\n"
        "for op in (lambda s: s.get('k'), lambda s: s.set('k', 'v'), lambda s: s.remove('k')):\n"
        "    try:\n"
        "        op(LocalStore())\n"
        "        out.append('no error')\n"
        "    except JsError as e:\n"
        "        out.append(str(e))\n"
        "result = out\n"
    )
    assert result == ["SecurityError: The operation is insecure."] * 3
    # The SDK itself fell back (to cookies) and still delivered the page's call.
    anonymous_id = page.evaluate("analytics.user().anonymousId()")
    assert anonymous_id
    events = collector.wait_for_events(1, anonymousId=anonymous_id)
    assert "Blocked storage" in [e.get("event") for e in events]


def test_cookie_store_attributes_encoding_and_removal(open_page, run_python, context):
    page = open_page("plain.html")
    before = time.time()
    result = run_python(
        IMPORTS + "s = Adapter().cookie_store(None, 3600)\n"
        "s.set('e2e_c', 'a b;c=é')\n"
        "result = [s.get('e2e_c'), s.get('e2e_none'), s.name]\n"
    )
    assert result == ["a b;c=é", None, "cookie"]
    (cookie,) = [c for c in context.cookies() if c["name"] == "e2e_c"]
    assert cookie["value"] == "a%20b%3Bc%3D%C3%A9"
    assert cookie["path"] == "/"
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http
    assert before + 3590 < cookie["expires"] < time.time() + 3610
    assert page.evaluate("document.cookie").count("e2e_c=") == 1

    run_python(IMPORTS + "Adapter().cookie_store(None, 3600).remove('e2e_c')\n")
    assert [c for c in context.cookies() if c["name"] == "e2e_c"] == []


def test_a_cookie_the_browser_refuses_raises(open_page, run_python):
    open_page("plain.html")
    result = run_python(
        IMPORTS + "try:\n"
        "    Adapter().cookie_store('example.com', 3600).set('e2e_x', 'v')\n"
        "    result = 'stored'\n"
        "except JsError as e:\n"
        "    result = str(e)\n"
    )
    assert result == "cookie e2e_x was not stored"


SEND = (
    IMPORTS + "import json\n"
    "def done(status, retry_after, text=None):\n"
    "    window.e2eSent = json.dumps([status, retry_after])\n"
    "Adapter().send(URL, BODY, done)\n"
)


def test_send_posts_text_and_reports_the_status(open_page, run_python, collector):
    page = open_page("plain.html")
    body = json.dumps(
        {
            "writeKey": "e2e-key",
            "batch": [
                {
                    "type": "track",
                    "event": "Sent by the adapter",
                    "anonymousId": "e2e-send",
                    "messageId": "e2e-send-1",
                    "timestamp": "2026-01-01T00:00:00.000Z",
                }
            ],
        }
    )
    code = SEND.replace("URL", json.dumps(collector.url + "/v1/batch")).replace("BODY", json.dumps(body))
    run_python(code)
    page.wait_for_function("window.e2eSent !== undefined")
    assert json.loads(page.evaluate("window.e2eSent")) == [200, None]
    assert [e["event"] for e in collector.events(anonymousId="e2e-send")] == ["Sent by the adapter"]


def test_send_reports_a_network_error_as_status_0_without_an_unhandled_rejection(open_page, run_python):
    page = open_page("plain.html")
    # Port 9 (discard) on loopback: connection refused.
    run_python(SEND.replace("URL", json.dumps("http://127.0.0.1:9/v1/batch")).replace("BODY", json.dumps("{}")))
    page.wait_for_function("window.e2eSent !== undefined")
    assert json.loads(page.evaluate("window.e2eSent")) == [0, None]
    # The `record` fixture fails the test on any unhandled rejection.


def test_clock_randomness_page_environment_and_beacon(open_page, run_python, collector):
    page = open_page("plain.html")
    result = run_python(
        IMPORTS
        + "p = Adapter()\n"
        "b = p.random_bytes(16)\n"
        "result = {'now': p.now_ms(), 'bytes': [len(b), isinstance(b, bytes), len(set(b)) > 4],\n"
        "          'page': p.page(), 'env': p.environment(), 'online': p.is_online(),\n"
        "          'beacon': p.beacon(URL, '{}'), 'bad_beacon': p.beacon('http://[', '{}')}\n".replace(
            "URL", json.dumps(collector.url + "/v1/batch")
        )
    )
    js_now = page.evaluate("Date.now()")
    assert js_now - 10000 < result["now"] <= js_now
    assert result["bytes"] == [16, True, True]
    assert result["page"] == {
        "path": "/t/plain.html",
        "url": page.url,
        "title": "Plain page",
        "referrer": "",
        "search": "",
    }
    assert result["env"] == page.evaluate(
        "({locale: navigator.language, timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,"
        " automation: navigator.webdriver === true})"
    )
    assert result["online"] is True
    assert result["beacon"] is True
    assert result["bad_beacon"] is False


def test_timers_fire_once_and_can_be_cleared(open_page, run_python):
    page = open_page("plain.html")
    run_python(
        IMPORTS + "p = Adapter()\n"
        "window.e2eFired = ''\n"
        "def fire(name):\n"
        "    window.e2eFired = window.e2eFired + name\n"
        "h = p.set_timeout(lambda: fire('x'), 0)\n"
        "p.clear_timeout(h)\n"
        "p.set_timeout(lambda: fire('a'), 5)\n"
        "p.set_timeout(lambda: fire('b'), 30)\n"
    )
    page.wait_for_function("window.e2eFired === 'ab'")


def test_listen_storage_navigate_hide_and_online(open_page, run_python, context, site):
    page = open_page("plain.html")
    run_python(
        IMPORTS + "import json\n"
        "p = Adapter()\n"
        "window.e2eHeard = '[]'\n"
        "def heard(*item):\n"
        "    window.e2eHeard = json.dumps(json.loads(window.e2eHeard) + [list(item)])\n"
        "p.listen('storage', lambda key, value: heard('storage', key, value))\n"
        "p.listen('navigate', lambda: heard('navigate', p.page()['path']))\n"
        "p.listen('hide', lambda final: heard('hide', final))\n"
        "p.listen('online', lambda: heard('online'))\n"
    )

    def heard():
        return json.loads(page.evaluate("window.e2eHeard"))

    other = context.new_page()
    other.goto(site.url + "/t/no-sdk.html")
    other.evaluate("localStorage.setItem('e2e-shared', 'hello'); localStorage.removeItem('e2e-shared')")
    page.wait_for_function("JSON.parse(window.e2eHeard).length >= 2")
    assert heard()[-2:] == [["storage", "e2e-shared", "hello"], ["storage", "e2e-shared", None]]

    # Two navigations in one task: each is reported with its own page.
    page.evaluate("history.pushState({}, '', '/t/first'); history.pushState({}, '', '/t/next?x=1')")
    page.wait_for_function("window.e2eHeard.includes('/t/next')")
    assert [e for e in heard() if e[0] == "navigate"] == [["navigate", "/t/first"], ["navigate", "/t/next"]]
    # An undefined URL must stay undefined (a Python wrapper would pass null: "/t/null").
    page.evaluate("history.replaceState({}, '', undefined)")
    assert page.evaluate("location.pathname") == "/t/next"

    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    page.evaluate("window.dispatchEvent(new Event('pagehide'))")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_function("window.e2eHeard.includes('online')")
    events = heard()
    assert [e for e in events if e[0] == "hide"] == [["hide", False], ["hide", True]]
    assert ["navigate", "/t/next"] in events


def test_log_writes_one_prefixed_console_line_per_level(open_page, run_python, record):
    open_page("plain.html")
    run_python(
        IMPORTS + "p = Adapter()\nfor level in ('error', 'warn', 'info', 'debug'):\n    p.log(level, 'e2e ' + level)\n"
    )
    lines = [(kind, text) for kind, text in record.console if text.startswith("[visitrail] e2e ")]
    assert lines == [
        ("error", "[visitrail] e2e error"),
        ("warning", "[visitrail] e2e warn"),
        ("info", "[visitrail] e2e info"),
        ("debug", "[visitrail] e2e debug"),
    ]
