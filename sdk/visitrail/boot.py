"""The page's entry script, run by PyScript (web/loader.js adds it to the page).

It builds the platform and the client from the script tag's data-* attributes, replays the calls
the loader queued before Python was up, starts the client, then hands the loader the two
functions behind window.analytics and so signals ready. Everything crosses as JSON text;
flush() promises resolve to true, or false when the collector could not be reached.
"""

import json

from visitrail.client import Client
from visitrail.platforms.pyscript import PyScriptPlatform, create_proxy, window

NUMBERS = ("sessionTimeout", "flushAt", "flushInterval")
FLAGS = ("persistUser", "debug", "autoPage")
FALSE = ("false", "0", "no", "off")


def options(data):
    """Client options from the tag's data-* attributes, which are all strings.

    `data-debug` alone means true; "false", "0", "no" and "off" mean false. A number that does
    not parse is passed on as it is, for the client to reject with its own message.
    """
    base = data.get("base") or ""
    opts = {"endpoint": (data.get("endpoint") or "/".join(base.split("/")[:3])).rstrip("/")}
    for key in ("writeKey", "idStorage", "domain"):
        if data.get(key):
            opts[key] = data[key]
    for key in NUMBERS:
        if key in data:
            try:
                opts[key] = int(data[key])
            except ValueError:
                opts[key] = data[key]
    for key in FLAGS:
        if key in data:
            opts[key] = data[key].strip().lower() not in FALSE
    return opts


def main():
    stub = window.analytics
    client = Client(PyScriptPlatform(), options(json.loads(stub._o)))
    for method, args, at, message_id, page in json.loads(window.JSON.stringify(stub._q)):
        client.call(method, args, {"timestamp": at, "messageId": message_id, "page": page})
    client.start()

    def call(method, args_json):
        return json.dumps(client.call(method, json.loads(args_json), None))

    def flush(done):
        client.flush(lambda ok=True: done(bool(ok)))

    stub._ready(create_proxy(call), create_proxy(flush))


try:
    main()
except Exception as exc:
    # The loader sees that _ready never came and warns that calls stay queued.
    window.console.error("[visitrail] the SDK failed to start: " + repr(exc))
