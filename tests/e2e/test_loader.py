"""web/loader.js: the stub queue, replay at boot, ready/flush before and after boot, the async
snippet, a second copy of the tag, and a runtime that fails to load."""

import pytest

from .helpers import epoch_ms

pytestmark = pytest.mark.e2e


def visitrail_lines(record, kind):
    return [text for t, text in record.console if t == kind and text.startswith("[visitrail]")]


def block(page, pattern):
    page.route(pattern, lambda route: route.fulfill(status=404, body="blocked by the test"))


@pytest.mark.pyodide
def test_early_calls_replay_and_an_early_flush_resolves_after_delivery(open_page, collector, record):
    page = open_page("early.html")
    assert page.evaluate("window.early") is True
    # Before boot: getters answer null, calls answer undefined; the callback was dropped.
    assert page.evaluate("window.beforeBoot") == {"anonymousId": None, "sessionId": None, "track": None}
    assert page.evaluate("window.calledBack") is None
    anonymous_id = page.evaluate("analytics.user().anonymousId()")
    # flush() resolved: both calls are stored already, no waiting needed.
    events = {e.get("event"): e for e in collector.events(anonymousId=anonymous_id) if e["type"] == "track"}
    assert set(events) == {"Early", "Early 2"}
    early = events["Early"]
    assert early["properties"] == {"n": 1}
    assert early["context"]["page"]["path"] == "/t/early.html"
    assert early["context"]["page"]["title"] == "Early calls"
    # Ready callbacks ran once, in order, each in its own task.
    page.wait_for_function("window.order.length === 2")
    assert page.evaluate("window.order") == ["ready 1", "ready promise"]
    assert page.evaluate("new Promise(r => analytics.ready(() => r(window.order.length)))") == 2
    assert visitrail_lines(record, "error") == visitrail_lines(record, "warning") == []


def test_calls_are_copied_when_made_and_never_throw(open_page, record, runtime):
    page = open_page("plain.html", ready=False)
    block(page, runtime.start_file)  # keep the SDK from starting: the stub alone
    page.reload()
    page.wait_for_function("document.readyState === 'complete'")
    queued = page.evaluate(
        """() => {
            const traits = { plan: "pro", since: new Date(0) };
            analytics.identify("u9", traits, () => {});
            traits.plan = "changed later";
            const cyclic = { name: "loop" }; cyclic.self = cyclic;
            const shared = { x: 1 };
            const unreadable = { get boom() { throw new Error("getter"); } };
            const results = [
                analytics.track("Odd values",
                    { cyclic, big: 10n, f() {}, el: document.body, w: window, list: [shared, shared] }),
                analytics.track("Unreadable", unreadable),
                analytics.track(),
                analytics.page(),
            ];
            return { results, q: JSON.parse(JSON.stringify(analytics._q)) };
        }"""
    )
    assert queued["results"] == [None, None, None, None]
    auto, identify, odd, track, page_call = queued["q"]
    assert auto[:2] == ["page", []]  # the automatic page view, queued first by the loader itself
    assert identify[0] == "identify"
    assert identify[1] == ["u9", {"plan": "pro", "since": "1970-01-01T00:00:00.000Z"}]
    assert isinstance(identify[2], int) and len(identify[3]) == 36
    assert identify[4]["path"] == "/t/plain.html" and identify[4]["title"] == "Plain page"
    # What JSON cannot carry is marked for the SDK to drop and report (calls.py).
    assert odd[1] == [
        "Odd values",
        {
            "cyclic": {"name": "loop", "self": {"__unserialisable__": "cycle"}},
            "big": {"__unserialisable__": "bigint"},
            "f": {"__unserialisable__": "function"},
            "el": {"__unserialisable__": "node"},
            "w": {"__unserialisable__": "node"},
            "list": [{"x": 1}, {"x": 1}],
        },
    ]
    assert track[:2] == ["track", []]
    assert page_call[:2] == ["page", []]
    assert visitrail_lines(record, "error") == [
        "[visitrail] track(): unreadable arguments: Error: getter",
    ]


def test_the_queue_is_bounded_with_one_warning(open_page, record, runtime):
    page = open_page("plain.html", ready=False)
    block(page, runtime.start_file)
    page.reload()
    page.wait_for_function("document.readyState === 'complete'")
    length = page.evaluate("for (let i = 0; i < 1200; i++) analytics.track('e' + i); analytics._q.length")
    assert length == 1000  # the loader's page view, then e0 ... e998
    assert page.evaluate("analytics._q[999][1][0]") == "e998"
    warnings = visitrail_lines(record, "warning")
    assert warnings.count("[visitrail] 1000 calls queued before the SDK started; dropping the rest") == 1


# What each runtime fetches that, missing, keeps it from starting: runtime.js, its entry point, its engine
# (wasm, and the JS around it), an SDK module, the module whose import starts the SDK.
FAIL_POINTS = {
    "mpy": [  # MicroPython alone (a page without Python of its own): no PyScript to start it
        "**/runtime.js",
        None,
        "**/micropython.wasm",
        "**/micropython.mjs",
        "**/visitrail/sdk.vtb",  # every module, in one file
        None,
    ],
    "py": [
        "**/runtime.js",
        "**/pyscript/core.js",
        "**/pyodide.asm.wasm",
        "**/pyodide.mjs",
        "**/visitrail/core/client.py",
        "**/visitrail/browser/boot.py",
    ],
    "brython": ["**/runtime.js", "**/brython/brython.min.js", None, None, "**/brython/visitrail.js", None],
}


@pytest.mark.pyodide
@pytest.mark.parametrize("point", range(6), ids=["runtime-js", "start", "engine", "engine-js", "module", "entry"])
def test_a_runtime_that_fails_to_load_warns_once_and_keeps_the_calls(page, open_page, record, runtime, point):
    blocked = FAIL_POINTS[runtime][point]
    if blocked is None:
        pytest.skip(f"{runtime} has no such file")
    # Blocked before the page's first load: blocked after it, the file could still be on its way
    # (seen in CI: the first load warned too, then the reload).
    block(page, blocked)
    with page.expect_console_message(lambda m: m.text.startswith("[visitrail]")):
        open_page("slice.html", ready=False)
    assert page.evaluate("analytics._q !== 0")  # still the stub
    assert visitrail_lines(record, "warning") == ["[visitrail] the SDK runtime did not start; calls stay queued"]
    assert page.evaluate("analytics._q.map(c => c[0])") == ["page", "identify"]
    assert page.evaluate("analytics.user().anonymousId()") is None
    # `record` also checks that nothing was left as an uncaught error or rejection in the page.


def test_an_async_tag_adopts_the_snippet_queue(open_page, collector):
    page = open_page("snippet.html")
    page.wait_for_function("window.snippetReady === true")
    assert page.evaluate("analytics.flush()") is True
    events = collector.events(anonymousId=page.evaluate("analytics.user().anonymousId()"))
    # The loader's page view comes first, before the snippet's calls (made earlier, replayed after it).
    first = min(events, key=lambda e: e["context"]["sessionSequence"])
    assert first["type"] == "page" and "userId" not in first
    assert {e.get("userId") for e in events if e["type"] != "page"} == {"u-snippet"}
    # Both were called in the same millisecond: the read API's order between them is arbitrary.
    assert sorted((e["type"], e.get("event") or "") for e in events if e["type"] != "page") == [
        ("identify", ""),
        ("track", "From the snippet"),
    ]


def test_a_second_copy_of_the_tag_changes_nothing(open_page, collector, runtime):
    page = open_page("twice.html")
    # One runtime started: runtime.js added once, hence one interpreter (and, with PyScript or
    # Brython, one entry script).
    assert page.evaluate("document.querySelectorAll('script[src*=\"/runtime.js\"]').length") == 1
    assert page.evaluate("t => document.querySelectorAll(`script[type='${t}']`).length", runtime.script_type) <= 1
    assert page.evaluate("analytics.flush()") is True
    anonymous_id = page.evaluate("analytics.user().anonymousId()")
    tracks = [e["event"] for e in collector.events(anonymousId=anonymous_id) if e["type"] == "track"]
    assert tracks == ["Before the second tag"]


def test_live_calls_return_getter_values_and_report_bad_input(open_page, record):
    page = open_page("plain.html")
    result = page.evaluate(
        """() => {
            const cyclic = {}; cyclic.self = cyclic;
            return {
                bad: analytics.track("Cyclic", cyclic),
                identify: analytics.identify("u-live", { plan: "team" }),
                id: analytics.user().id(),
                traits: analytics.user().traits(),
                session: typeof analytics.session().id(),
            };
        }"""
    )
    assert result == {"bad": None, "identify": None, "id": "u-live", "traits": {"plan": "team"}, "session": "string"}
    assert visitrail_lines(record, "error") == [
        "[visitrail] track(): properties.self is not serialisable (cycle) and was dropped"
    ]


def test_a_csp_without_unsafe_eval_stops_the_runtime_with_one_warning(page, site, collector, record):
    # PyScript 0.7.31 builds functions with Function() (hooks.js: createFunction) and compiles
    # wasm; Brython compiles Python to JS and evals it: a page CSP must allow 'unsafe-eval' for
    # the SDK to start. (One load only: Brython's loader gives up at once.)
    with page.expect_console_message(lambda m: m.text.startswith("[visitrail]")):
        page.goto(site.url + "/t/csp-strict.html")
    assert visitrail_lines(record, "warning") == ["[visitrail] the SDK runtime did not start; calls stay queued"]
    assert page.evaluate("analytics._q.map(c => c[0] + ' ' + c[1])") == ["page ", "track Under CSP"]


def test_a_csp_that_allows_eval_runs_the_sdk(open_page, collector):
    page = open_page("csp-eval.html", ready=False)  # wait_for_function itself needs eval
    page.evaluate("analytics.ready()")
    assert page.evaluate("analytics.flush()") is True
    anonymous_id = page.evaluate("analytics.user().anonymousId()")
    assert [e["event"] for e in collector.events(anonymousId=anonymous_id) if e["type"] == "track"] == ["Under CSP"]


def test_calls_left_behind_before_boot_are_replayed_by_the_next_page(open_page, site, collector, runtime):
    page = open_page("plain.html", ready=False)
    block(page, runtime.start_file)
    page.reload()
    called_at = page.evaluate("analytics.track('Left behind', {n: 1}), analytics._q[1][2]")
    page.goto(site.url + "/t/no-sdk.html")  # pagehide: the loader saves its queue
    saved = page.evaluate("JSON.parse(localStorage.visitrail_calls)")
    # The page view of each load left before boot (the first may have booted), then the track.
    calls = [(c[0], c[1]) for c in saved]
    assert calls[-1] == ("track", ["Left behind", {"n": 1}])
    assert calls[:-1] and all(c == ("page", []) for c in calls[:-1])

    page.unroute(runtime.start_file)
    page.goto(site.url + "/t/plain.html")
    page.wait_for_function("window.analytics && window.analytics._q === 0")
    assert page.evaluate("analytics.flush()") is True
    assert page.evaluate("localStorage.visitrail_calls") is None
    anonymous_id = page.evaluate("analytics.user().anonymousId()")
    (left,) = [e for e in collector.events(anonymousId=anonymous_id) if e.get("event") == "Left behind"]
    assert left["messageId"] == saved[-1][3]
    assert left["context"]["page"]["path"] == "/t/plain.html"
    assert abs(epoch_ms(left["originalTimestamp"]) - called_at) < 5


def test_memory_mode_saves_nothing_when_left_before_boot(open_page, site, runtime):
    page = open_page("memory.html", ready=False)
    block(page, runtime.start_file)
    page.reload()
    page.evaluate("analytics.track('Not kept')")
    page.goto(site.url + "/t/no-sdk.html")
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('visitrail'))") == []


@pytest.mark.runtimes("mpy")
def test_micropython_alone_runs_under_a_csp_without_unsafe_eval(page, site, collector, record):
    # No PyScript (which builds functions with Function()), no eval: WebAssembly only.
    page.goto(site.url + "/t/csp-wasm.html")
    assert page.evaluate("analytics.ready().then(() => analytics.flush())") is True
    anonymous_id = page.evaluate("analytics.user().anonymousId()")
    assert [e["event"] for e in collector.events(anonymousId=anonymous_id) if e["type"] == "track"] == ["Under CSP"]
    assert visitrail_lines(record, "warning") == []
