"""A page that runs PyScript itself, with no Visitrail tag, installs the SDK the PyScript way and
gives it its options in its own PyScript config ("visitrail" section): Pyodide with micropip
(`packages`: the visitrail-sdk wheel, built from sdk/ and served by the test site; micropip
itself from the collector's Pyodide folder), MicroPython with the collector's PyScript package of
the .mpy modules (`packages`: /analytics/visitrail-mpy.json). `from visitrail import analytics`
then starts a client of the page's own. The `record` fixture fails a test whose page sent a
request off this machine."""

import zipfile

import pytest

from visitrail.collector import assets

from .helpers import wait_for

pytestmark = pytest.mark.e2e


def visitrail_lines(record):
    return [(kind, text) for kind, text in record.console if text.startswith("[visitrail]")]


def stored(collector, user_id, count):
    return wait_for(
        lambda: (lambda e: e if len(e) >= count else None)(collector.events(userId=user_id)),
        60.0,
        what=f"{count} events of {user_id}",
    )


@pytest.mark.runtimes("mpy")
def test_micropython_without_the_tag_takes_the_collectors_package_and_sends(page, site, collector, record, run_python):
    page.goto(site.url + "/t/native-mpy.html")
    page.wait_for_function("window.nativeFlushed !== undefined", timeout=30000)
    assert page.evaluate("window.nativeFlushed") is True and page.evaluate("window.nativeReady") is True
    assert page.evaluate("window.nativeUser") == "native-mpy-user"
    assert page.evaluate("typeof window.analytics") == "undefined"  # nothing for the page's JS

    events = stored(collector, "native-mpy-user", 3)
    by_type = {e["type"]: e for e in events}
    assert by_type["identify"]["traits"] == {"plan": "pro"}
    assert by_type["track"]["event"] == "Native call" and by_type["track"]["properties"] == {"runtime": "mpy"}
    assert by_type["group"]["groupId"] == "acme" and by_type["group"]["traits"] == {"seats": 3}
    # The automatic page view, made on load (the package's import), before the identify.
    (view,) = [e for e in collector.events(anonymousId=by_type["track"]["anonymousId"]) if e["type"] == "page"]
    assert view["context"]["page"]["path"] == "/t/native-mpy.html" and "userId" not in view
    assert by_type["track"]["context"]["sessionId"] == view["context"]["sessionId"]

    # A single-page-app navigation is a page view too (the "navigate" helpers of native.py).
    page.evaluate("history.pushState({}, '', '/t/native-mpy.html?step=2')")
    wait_for(
        lambda: [e for e in collector.events(userId="native-mpy-user") if e["type"] == "page"],
        what="the page view of the navigation",
    )
    (nav,) = [e for e in collector.events(userId="native-mpy-user") if e["type"] == "page"]
    assert nav["context"]["page"]["search"] == "?step=2"

    # The page's later Python shares the client (one interpreter): alias, then a sign-out.
    anonymous_id = by_type["track"]["anonymousId"]
    assert run_python(
        "from visitrail import analytics\n"
        "before = [analytics.user().id(), analytics.user().anonymousId(), analytics.session().id()]\n"
        "analytics.alias('native-mpy-user-2')\n"
        "analytics.reset()\n"
        "result = before + [analytics.user().id()]\n"
    ) == ["native-mpy-user", anonymous_id, view["context"]["sessionId"], None]
    (alias,) = wait_for(
        lambda: [e for e in collector.events(userId="native-mpy-user-2") if e["type"] == "alias"],
        what="the alias",
    )
    assert alias["previousId"] == "native-mpy-user"

    # The SDK as bytecode of this build, from the versioned URLs the package names; no tag files.
    version = assets.version_of(assets.DIST)
    prefix = f"{collector.url}/analytics/"
    ours = [u[len(prefix) :] for u in record.requests if u.startswith(prefix)]
    assert "visitrail-mpy.json" in ours
    modules = [u for u in ours if "/visitrail/" in u]
    assert (
        f"v/{version}/visitrail/core/client.mpy" in modules and f"v/{version}/visitrail/browser/native.mpy" in modules
    )
    assert all(u.startswith(f"v/{version}/visitrail/") and u.endswith(".mpy") for u in modules)
    assert not any(u.endswith(("loader.js", "runtime.js", "boot.mpy")) for u in ours)
    assert visitrail_lines(record) == [] and record.console_of("error") == []


@pytest.mark.runtimes("py")
def test_pyodide_without_the_tag_installs_the_wheel_with_micropip_and_sends(page, site, collector, record, sdk_wheel):
    page.goto(site.url + "/t/native-py.html")
    page.wait_for_function("window.nativeFlushed !== undefined", timeout=90000)
    assert page.evaluate("window.nativeFlushed") is True  # `await analytics.flush()`
    assert page.evaluate("window.nativeUser") == "native-py-user"
    assert page.evaluate("typeof window.analytics") == "undefined"

    events = stored(collector, "native-py-user", 2)
    by_type = {e["type"]: e for e in events}
    assert by_type["identify"]["traits"] == {"plan": "pro"}
    assert by_type["track"]["properties"] == {"runtime": "py"}
    assert [e["type"] for e in collector.events(anonymousId=by_type["track"]["anonymousId"])].count("page") == 1

    # micropip came from the collector's Pyodide folder (checked against the lock's sha256 there),
    # the SDK from the wheel: its Python sources, not the collector's.
    pyodide = f"{collector.url}/analytics/pyodide/"
    assert pyodide + "micropip-0.11.1-py3-none-any.whl" in record.requests
    assert site.url + "/wheels/" + sdk_wheel.name in record.requests
    assert not any("/analytics/visitrail/" in u or "/analytics/v/" in u for u in record.requests)
    with zipfile.ZipFile(sdk_wheel) as wheel:
        assert "visitrail/browser/native.py" in wheel.namelist()
        assert not any(n.startswith("visitrail/collector/") for n in wheel.namelist())
    assert visitrail_lines(record) == [] and record.console_of("error") == []


@pytest.mark.runtimes("mpy")
def test_without_a_write_key_the_sdk_says_so_once_and_every_call_does_nothing(page, site, collector, record):
    page.goto(site.url + "/t/native-no-config.html")
    page.wait_for_function("window.nativeFlushed !== undefined", timeout=30000)
    assert page.evaluate("window.nativeFlushed") is False
    assert page.evaluate("window.nativeUser") is None
    # The camelCase key is named (and ignored), and the missing write key is the one error.
    lines = visitrail_lines(record)
    assert [kind for kind, _ in lines] == ["warning", "error"]
    assert "visitrail.writeKey is not an option (ignored; did you mean write_key?)" in lines[0][1]
    assert lines[1][1].startswith("[visitrail] the PyScript config's 'visitrail' section has no write_key: ")
    assert record.console_of("error") == [lines[1]]
    assert not any(u.startswith(collector.url + "/v1/") for u in record.requests)
