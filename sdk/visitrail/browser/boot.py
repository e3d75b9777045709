"""The SDK's start, imported by the entry script that web/runtime.js adds to the page (PyScript +
MicroPython or Pyodide, or Brython): importing this module starts the SDK, once.

It builds the platform and the client from the script tag's data-* attributes, replays the calls
the loader's stub queued before Python was up (those of earlier pages left before the SDK was up,
then this page's: first of them the automatic page view the loader queued as the tag ran), starts
the client, then hands the stub the two functions behind window.analytics (`analytics._ready`)
and so signals ready. Everything crosses as JSON text; flush() promises
resolve to true, or false when the collector could not be reached.
"""

import json

from visitrail.browser.ffi import create_proxy, is_nullish, js_call, window
from visitrail.browser.platform import WebPlatform
from visitrail.core.client import Client

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any

SAVED_CALLS = "visitrail_calls"


def options(data: "dict[str, Any]") -> "dict[str, Any]":
    """Client options from the tag's data-* attributes. They stay strings: the client reads
    flags and numbers itself (client.py), so there is one reading of `data-debug` and the rest."""
    base = data.get("base") or ""
    opts = {"endpoint": (data.get("endpoint") or "/".join(base.split("/")[:3])).rstrip("/")}
    for key in (
        "writeKey",
        "idStorage",
        "domain",
        "consent",
        "identityToken",
        "sessionTimeout",
        "sessionMaxHours",
        "engagement",
        "flushAt",
        "flushInterval",
        "persistUser",
        "debug",
        "autoPage",
        "linkDomains",
        "linkMaxAge",
    ):
        if key in data:
            opts[key] = data[key]
    return opts


def queued_calls(stub: "Any", platform: "WebPlatform") -> "tuple[list[Any], list[Any] | None]":
    """The loader's queue: calls saved by earlier pages of this site that were left before the
    SDK was up (localStorage `visitrail_calls`, written by the loader), then this page's own.
    Each is [method, args, time, messageId, page]; a call saved by this very page (hidden, then
    shown again) is in both lists and is replayed once. Also this page's automatic page view,
    when the loader queued it (`_ap`: then it is the first of this page's calls), else None."""
    live: "list[Any]" = json.loads(window.JSON.stringify(stub._q))
    auto = live[0] if live and live[0][0] == "page" and not is_nullish(js_call(stub, "_ap")) else None
    saved: "list[Any]" = []
    try:
        store = platform.local_store()
        text = store.get(SAVED_CALLS)
        if text:
            store.remove(SAVED_CALLS)
            saved = json.loads(text)
    except Exception:  # storage blocked, or not JSON: nothing to replay
        pass
    ids = {c[3] for c in live}
    # Earlier pages' calls first, in the order they were saved. No sort by time: calls made in
    # the same millisecond must keep their order (and MicroPython's sort is not stable).
    return [c for c in saved if isinstance(c, list) and len(c) == 5 and c[3] not in ids] + live, auto


# How long one task may replay queued calls before it yields to the page: a long task delays the
# visitor's next click (the first calls of a cold start are the slowest: nothing is compiled yet).
REPLAY_BUDGET_MS = 8


def main() -> "None":
    stub = window.analytics
    stub._b = 1  # booting: the entry script's check (_d) leaves the warning to us from here on
    platform = WebPlatform()
    client = Client(platform, options(json.loads(stub._o)))
    # Before the queued calls: they are the linked visitor's too.
    client.adopt_link(platform.page().get("url"))
    calls, auto = queued_calls(stub, platform)
    replay(stub, platform, client, calls, int(stub._q.length), auto)


def replay(
    stub: "Any", platform: "WebPlatform", client: "Client", calls: "list[Any]", taken: "int", auto: "list[Any] | None"
) -> "None":
    """Replays the queued calls a few at a time, each batch in a task of its own; the page's calls
    made meanwhile join the stub's queue (`taken`: how many of it are in `calls`), and are
    replayed in the same task that hands the stub over, so that none falls between the two."""
    started = platform.now_ms()
    while calls and platform.now_ms() - started < REPLAY_BUDGET_MS:
        method, args, at, message_id, page = calls.pop(0)
        client.call(method, args, {"timestamp": at, "messageId": message_id, "page": page})
    if calls:
        platform.set_timeout(lambda: guarded(replay, stub, platform, client, calls, taken, auto), 0)
        return
    late = int(stub._q.length) - taken
    if late > 0:
        for method, args, at, message_id, page in json.loads(window.JSON.stringify(stub._q.slice(taken))):
            client.call(method, args, {"timestamp": at, "messageId": message_id, "page": page})
    ready(stub, client, auto)


def ready(stub: "Any", client: "Client", auto: "list[Any] | None") -> "None":
    """Starts the client and hands the stub the two functions behind window.analytics. The
    automatic page view was made by the loader (`auto`, replayed with the queue) unless the
    loader is an older one."""
    client.start({"timestamp": auto[2], "page": auto[4]} if auto else None, auto is not None)

    def call(method: "str", args_json: "str") -> "str":
        return json.dumps(client.call(method, json.loads(args_json), None))

    def flush(done: "Any") -> "None":
        client.flush(lambda ok: done(bool(ok)))

    stub._ready(create_proxy(call), create_proxy(flush))


def guarded(step: "Any", *args: "Any") -> "None":
    """Runs a step of the start; if it fails, says so, and the stub warns that calls stay queued."""
    try:
        step(*args)
    except Exception as exc:
        window.console.error("[visitrail] the SDK failed to start: " + repr(exc))
        window.analytics._f()


guarded(main)
