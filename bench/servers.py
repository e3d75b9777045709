"""The benchmark's local servers, all on 127.0.0.1, each its own origin:

    Hub     the SDKs' files (the anchors' as their CDNs would serve them; Visitrail's web/dist/ at
            /dist/, the same static server for every SDK) and every analytics endpoint: a
            recording stub for Segment (`/segapi/v1/*`), PostHog (`/ph/*`) and Plausible
            (`/plausible/api/event`), and a recording pass-through to the Visitrail collector
            (`/vt/*`). Every POST is recorded with its arrival time, status and the events it carried.
    Site    the test pages (pages.py renders them per request).
    Away    "another site": where a visitor goes when leaving.
    Guard   an HTTP proxy Chromium is pointed at. Loopback bypasses it, so anything that reaches
            it was on its way off this machine: it is recorded and refused.

Files are served as they are on disk (no Content-Encoding); bench/__main__.py computes gzip -9 sizes.
"""

import base64
import gzip
import http.server
import json
import mimetypes
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote_plus, urlsplit

import httpx

HERE = Path(__file__).resolve().parent
ANCHORS = HERE / "anchors" / "node_modules"
SEGMENT_UMD = ANCHORS / "@segment" / "analytics-next" / "dist" / "umd"
POSTHOG_DIST = ANCHORS / "posthog-js" / "dist"
PLAUSIBLE = ANCHORS / "@plausible-analytics" / "tracker"
POSTHOG_TOKEN = "phc_bench"

MEDIA = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css",
    ".py": "text/plain; charset=utf-8",
    ".zip": "application/zip",
    ".toml": "text/plain; charset=utf-8",
}


# -- What arrived ---------------------------------------------------------------------------------


@dataclass
class Event:
    kind: str  # identify | track | page | other
    name: str
    props: dict  # track properties, identify traits
    mid: str | None  # messageId / uuid; None for Plausible (it sends none)


@dataclass
class Arrival:
    at_ms: float  # epoch ms when the request was read
    sdk: str  # visitrail | segment | posthog | plausible
    method: str
    path: str
    status: int
    events: list = field(default_factory=list)
    error: str | None = None


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.arrivals = []

    def add(self, arrival):
        with self.lock:
            self.arrivals.append(arrival)

    def snapshot(self):
        with self.lock:
            return list(self.arrivals)

    def events(self, case=None, acknowledged=True):
        """(arrival, event) pairs, optionally only events whose props carry case=`case`."""
        out = []
        for arrival in self.snapshot():
            if acknowledged and not 200 <= arrival.status < 300:
                continue
            for event in arrival.events:
                if case is None or (isinstance(event.props, dict) and event.props.get("case") == case):
                    out.append((arrival, event))
        return out


def _json(data):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _props(value):
    return value if isinstance(value, dict) else {}


def segment_events(kind, body):
    """Segment-shaped messages: one at /v1/<type> (or its one-letter alias), a list at /v1/batch|b."""
    kinds = {"i": "identify", "t": "track", "p": "page", "g": "group", "a": "alias", "s": "screen"}
    if kind in ("batch", "b"):
        messages = body.get("batch") if isinstance(body, dict) else None
    else:
        messages = [dict(body, type=body.get("type") or kinds.get(kind, kind))] if isinstance(body, dict) else None
    out = []
    for m in messages or []:
        if not isinstance(m, dict):
            continue
        t = m.get("type") or ""
        if t == "identify":
            out.append(Event("identify", "", _props(m.get("traits")), m.get("messageId")))
        elif t == "track":
            out.append(Event("track", m.get("event") or "", _props(m.get("properties")), m.get("messageId")))
        else:
            out.append(Event("page" if t == "page" else "other", t, _props(m.get("properties")), m.get("messageId")))
    return out


def visitrail_raw_calls(body):
    """The loader's last-chance beacon: {"calls": [[method, args, timeMs, messageId, page], ...]}."""
    out = []
    for c in (body.get("calls") if isinstance(body, dict) else None) or []:
        if not (isinstance(c, list) and len(c) >= 4 and isinstance(c[1], list)):
            continue
        method, args, mid = c[0], c[1], c[3]
        if method == "identify":
            traits = next((a for a in args if isinstance(a, dict)), {})
            out.append(Event("identify", "", traits, mid))
        elif method == "track":
            out.append(Event("track", args[0] if args else "", _props(args[1] if len(args) > 1 else None), mid))
        elif method == "page":
            out.append(Event("page", "", {}, mid))
        else:
            out.append(Event("other", str(method), {}, mid))
    return out


def posthog_body(raw, query):
    """PostHog's bodies: gzip (compression=gzip-js), `data=<base64>` forms (sendBeacon) or JSON."""
    if raw[:2] == b"\x1f\x8b":
        raw = zlib.decompress(raw, 16 + zlib.MAX_WBITS)
    text = raw.decode("utf-8", "replace")
    if text.startswith("data="):
        encoded = unquote_plus(text[5:].split("&")[0])
        if query.get("compression", [""])[0] == "base64" or not encoded.lstrip().startswith(("{", "[")):
            encoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
        text = encoded
    return json.loads(text) if text.strip() else None


def posthog_events(body):
    if isinstance(body, dict):
        items = body.get("batch") if isinstance(body.get("batch"), list) else [body]
    elif isinstance(body, list):
        items = body
    else:
        items = []
    out = []
    for e in items:
        if not isinstance(e, dict) or "event" not in e:
            continue
        name, props = e.get("event") or "", _props(e.get("properties"))
        if name == "$identify":
            traits = e.get("$set") if isinstance(e.get("$set"), dict) else props.get("$set")
            out.append(Event("identify", name, _props(traits), e.get("uuid")))
        elif name == "$pageview":
            out.append(Event("page", name, props, e.get("uuid")))
        elif name.startswith("$"):
            out.append(Event("other", name, props, e.get("uuid")))
        else:
            out.append(Event("track", name, props, e.get("uuid")))
    return out


def plausible_events(body):
    if not isinstance(body, dict):
        return []
    name = body.get("n") or ""
    props = body.get("p")
    if isinstance(props, str):
        props = _json(props.encode()) or {}
    if name == "pageview":
        return [Event("page", name, _props(props), None)]
    return [Event("track", name, _props(props), None)]


# -- Static files and stub answers ----------------------------------------------------------------


def segment_settings(api_host):
    """What cdn.segment.com/v1/projects/<key>/settings would answer for a source with no
    destinations; `apiKey` must be there or events carry no write key (segment-http-api.md)."""
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": "bench-key",
                "apiHost": api_host,
                "protocol": "http",
                "unbundledIntegrations": [],
                "addBundledMetadata": True,
                "maybeBundledConfigIds": {},
                "versionSettings": {"version": "4.4.7", "componentTypes": ["browser"]},
            }
        },
        "plan": {
            "track": {"__default": {"enabled": True, "integrations": {}}},
            "identify": {"__default": {"enabled": True}},
            "group": {"__default": {"enabled": True}},
        },
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


# What a PostHog project with product analytics only (no recordings, surveys, heatmaps, flags)
# answers at /array/<token>/config(.js).
POSTHOG_REMOTE_CONFIG = {
    "token": POSTHOG_TOKEN,
    "supportedCompression": ["gzip", "gzip-js"],
    "hasFeatureFlags": False,
    "captureDeadClicks": False,
    "capturePerformance": False,
    "autocapture_opt_out": False,
    "autocaptureExceptions": False,
    "analytics": {"endpoint": "/i/v0/e/"},
    "elementsChainAsString": True,
    "errorTracking": {"autocaptureExceptions": False, "suppressionRules": []},
    "logs": {"captureConsoleLogs": False},
    "sessionRecording": False,
    "heatmaps": False,
    "surveys": False,
    "productTours": False,
    "defaultIdentifiedOnly": True,
    "siteApps": [],
}


def posthog_config_js():
    config = json.dumps({"config": POSTHOG_REMOTE_CONFIG, "siteApps": []})
    return (
        "(function(){window._POSTHOG_REMOTE_CONFIG=window._POSTHOG_REMOTE_CONFIG||{};"
        f"window._POSTHOG_REMOTE_CONFIG[{json.dumps(POSTHOG_TOKEN)}]={config};}})();"
    ).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body=b"", kind="text/plain", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _file(self, path, headers=()):
        if path is None or not path.is_file():
            return self._send(404, b"not found")
        kind = MEDIA.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return self._send(200, path.read_bytes(), kind, headers)

    def do_GET(self):
        self.route()

    do_POST = do_OPTIONS = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_GET


def _inside(root, rel):
    path = (root / rel).resolve()
    return path if path.is_relative_to(root.resolve()) else None


class HubHandler(_Handler):
    def cors(self):
        origin = self.headers.get("Origin")
        allow = [
            ("Access-Control-Allow-Origin", origin or "*"),
            ("Vary", "Origin"),
            ("Access-Control-Allow-Headers", "authorization, content-type, x-retry-count"),
            ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
            ("Access-Control-Max-Age", "600"),
        ]
        if origin:
            allow.append(("Access-Control-Allow-Credentials", "true"))
        return allow

    def route(self):
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        server = self.server
        if path.startswith("/vt/"):
            return self.forward(path[3:] + ("?" + url.query if url.query else ""))
        if path.startswith("/dist/") and self.command in ("GET", "HEAD"):
            # /dist/v/<version>/<file> is <file>: the versioned URLs loader.js makes.
            rel = re.sub(r"^v/[0-9a-f]{10}/", "", path[len("/dist/") :])
            return self._file(_inside(server.dist, rel), [("Access-Control-Allow-Origin", "*")])
        if self.command == "GET" and path.startswith("/seg/"):
            rest = path[len("/seg/") :]
            if rest.startswith("analytics.js/v1/") and rest.endswith("/analytics.min.js"):
                return self._file(SEGMENT_UMD / "standalone.js", [("Access-Control-Allow-Origin", "*")])
            if rest.startswith("analytics-next/bundles/"):
                return self._file(
                    _inside(SEGMENT_UMD, rest[len("analytics-next/bundles/") :]), [("Access-Control-Allow-Origin", "*")]
                )
            if rest.startswith("v1/projects/") and rest.endswith("/settings"):
                body = json.dumps(segment_settings(server.segment_api_host)).encode()
                return self._send(200, body, "application/json", [("Access-Control-Allow-Origin", "*")])
            return self._send(404, b"not found")
        if path.startswith("/segapi/"):
            return self.stub("segment", path, query, b'{"success":true}', "application/json")
        if path.startswith("/ph/"):
            rest = path[len("/ph") :]
            if self.command == "GET" and rest.startswith("/static/"):
                # Lazy bundles are asked for as /static/<version>/<name>.js first.
                name = re.sub(r"^\d+\.\d+\.\d+[^/]*/", "", rest[len("/static/") :])
                return self._file(_inside(POSTHOG_DIST, name), [("Access-Control-Allow-Origin", "*")])
            if self.command == "GET" and rest == f"/array/{POSTHOG_TOKEN}/config.js":
                return self._send(200, posthog_config_js(), "text/javascript", [("Access-Control-Allow-Origin", "*")])
            if self.command == "GET" and rest == f"/array/{POSTHOG_TOKEN}/config":
                return self._send(200, json.dumps(POSTHOG_REMOTE_CONFIG).encode(), "application/json", self.cors())
            if rest.startswith(("/flags", "/decide")):
                answer = b'{"flags":{},"featureFlags":{},"featureFlagPayloads":{},"errorsWhileComputingFlags":false}'
            else:
                answer = b'{"status":1}'
            return self.stub("posthog", path, query, answer, "application/json")
        if path == "/empty.js":  # the load-event control: a synchronous script that does nothing
            return self._send(200, b"", "text/javascript", [("Access-Control-Allow-Origin", "*")])
        if path.startswith("/plausible/"):
            if self.command == "GET" and path == "/plausible/plausible.js":
                return self._file(PLAUSIBLE / "plausible.js", [("Access-Control-Allow-Origin", "*")])
            return self.stub("plausible", path, query, b"ok", "text/plain", status=202)
        return self._send(404, b"not found")

    def stub(self, sdk, path, query, answer, kind, status=200):
        raw = self._body()
        if self.command == "OPTIONS":
            return self._send(204, b"", "text/plain", self.cors())
        arrival = Arrival(time.time() * 1000, sdk, self.command, path, status)
        if self.command == "POST":
            try:
                if sdk == "segment":
                    arrival.events = segment_events(path.rsplit("/", 1)[-1], _json(raw))
                elif sdk == "posthog":
                    arrival.events = posthog_events(posthog_body(raw, query))
                else:
                    arrival.events = plausible_events(_json(raw))
            except Exception as exc:  # a body we could not read is recorded, not fatal
                arrival.error = f"{type(exc).__name__}: {exc}"
        if self.headers.get("X-Bench-Sizing") is None:
            self.server.recorder.add(arrival)
        return self._send(status, answer, kind, self.cors())

    def forward(self, target):
        """To the collector, as it came; recorded with the collector's answer."""
        raw = self._body()
        at = time.time() * 1000
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("host", "content-length", "connection", "keep-alive", "accept-encoding")
        }
        try:
            response = self.server.collector_http.request(self.command, target, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            self.server.recorder.add(Arrival(at, "visitrail", self.command, target, 502, error=str(exc)))
            return self._send(502, b"collector unreachable")
        if self.command == "POST":
            arrival = Arrival(at, "visitrail", self.command, target, response.status_code)
            body = _json(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
            kind = urlsplit(target).path.rsplit("/", 1)[-1]
            arrival.events = visitrail_raw_calls(body) if kind == "calls" else segment_events(kind, body)
            if not 200 <= response.status_code < 300:
                arrival.error = response.text[:300]
            self.server.recorder.add(arrival)
        passed = [
            (k, v)
            for k, v in response.headers.items()
            if k.lower()
            not in ("content-length", "content-encoding", "transfer-encoding", "connection", "date", "server")
        ]
        ctype = response.headers.get("content-type", "text/plain")
        return self._send(
            response.status_code, response.content, ctype, [(k, v) for k, v in passed if k.lower() != "content-type"]
        )


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def handle_error(self, request, client_address):
        pass  # a browser that hangs up mid-answer (a page left, a refused proxy tunnel) is not news

    def stop(self):
        self.shutdown()
        self.server_close()


class Hub(_Server):
    """collector_url: where /vt/* goes; dist: Visitrail's built files, served at /dist/."""

    def __init__(self, collector_url, dist):
        super().__init__(("127.0.0.1", 0), HubHandler)
        self.dist = Path(dist)
        self.recorder = Recorder()
        self.collector_http = httpx.Client(base_url=collector_url, timeout=30)
        self.segment_api_host = "127.0.0.1:%d/segapi/v1" % self.server_address[1]

    def stop(self):
        super().stop()
        self.collector_http.close()


class SiteHandler(_Handler):
    def route(self):
        url = urlsplit(self.path)
        if url.path == "/favicon.ico":
            return self._send(404, b"")
        page = self.server.render(url.path, parse_qs(url.query))
        if page is None:
            return self._send(404, b"not found")
        if isinstance(page, tuple):  # (media type, bytes): the article's stylesheet and images
            return self._send(200, page[1], page[0], [("Cache-Control", "no-store")])
        return self._send(200, page.encode(), "text/html; charset=utf-8", [("Cache-Control", "no-store")])


class Site(_Server):
    """render(path, query) -> HTML, (media type, bytes), or None."""

    def __init__(self, render):
        super().__init__(("127.0.0.1", 0), SiteHandler)
        self.render = render


AWAY_PAGE = (
    "<!doctype html><meta charset=utf-8><title>Elsewhere</title><link rel=icon href='data:,'><p>Another site.</p>"
)


class Away(Site):
    def __init__(self):
        super().__init__(lambda path, query: AWAY_PAGE)


class GuardHandler(_Handler):
    def route(self):
        target = self.path if self.command != "CONNECT" else "https://" + self.path
        self.server.attempts.append((self.command, target))
        self._send(403, b"blocked by the benchmark: nothing may leave 127.0.0.1")

    do_CONNECT = route


class Guard(_Server):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), GuardHandler)
        self.attempts = []
