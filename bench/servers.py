"""The comparison's local servers, all on 127.0.0.1, each its own origin:

    Hub     the SDKs' files (the anchors' as their CDNs would serve them; Visitrail's web/dist/ at
            /dist/, the same static server for every SDK) and every analytics endpoint: a
            recording stub for Segment (`/segapi/v1/*`), PostHog (`/ph/*`) and Plausible
            (`/plausible/api/event`), and a recording pass-through to the Visitrail collector
            (`/vt/*`). Every POST is recorded (recorder.py) with its arrival time, status and events.
    Site    the test pages (pages.py renders them per request).
    Away    "another site": where a visitor goes when leaving.
    Guard   an HTTP proxy Chromium is pointed at. Loopback bypasses it, so anything that reaches
            it was on its way off this machine: it is recorded and refused.

Files are served as they are on disk (no Content-Encoding); sizes.py computes gzip -9 sizes.
"""

import http.server
import json
import mimetypes
import re
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from .pages import POSTHOG_TOKEN, WRITE_KEY
from .recorder import Arrival, Recorder, endpoint_events, visitrail_events

HERE = Path(__file__).resolve().parent
ANCHORS = HERE / "anchors" / "node_modules"
SEGMENT_UMD = ANCHORS / "@segment" / "analytics-next" / "dist" / "umd"
POSTHOG_DIST = ANCHORS / "posthog-js" / "dist"
PLAUSIBLE = ANCHORS / "@plausible-analytics" / "tracker"

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


# -- Static files and stub answers ----------------------------------------------------------------


def segment_settings(api_host):
    """What cdn.segment.com/v1/projects/<key>/settings would answer for a source with no
    destinations; `apiKey` must be there or events carry no write key (segment-http-api.md)."""
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": WRITE_KEY,
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


# The files: fetched cross-origin by every page; Resource Timing may read their sizes (the warm
# load's cache hits). Cached as the collector's /analytics/ caches them (static.py): a versioned
# URL for good, anything else (loader.js, the anchors' files, which their CDNs cache for minutes
# to hours) for 5 minutes, so a warm page view finds them in the cache.
OPEN = [("Access-Control-Allow-Origin", "*"), ("Timing-Allow-Origin", "*")]
CACHED = OPEN + [("Cache-Control", "public, max-age=300")]
VERSIONED = OPEN + [("Cache-Control", "public, max-age=31536000, immutable")]
# Headers that belong to one hop, not to the request or answer passed on.
HOP_REQUEST = ("host", "content-length", "connection", "keep-alive", "accept-encoding")
HOP_ANSWER = ("content-length", "content-encoding", "transfer-encoding", "connection", "date", "server", "content-type")
POSTHOG_FLAGS = b'{"flags":{},"featureFlags":{},"featureFlagPayloads":{},"errorsWhileComputingFlags":false}'


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
        if path.startswith("/vt/"):
            return self.forward(path[3:] + ("?" + url.query if url.query else ""))
        if path.startswith("/dist/") and self.command in ("GET", "HEAD"):
            # /dist/v/<version>/<file> is <file>: the versioned URLs loader.js makes.
            rel = re.sub(r"^v/[0-9a-f]{10}/", "", path[len("/dist/") :])
            return self._file(_inside(self.server.dist, rel), VERSIONED if rel != path[6:] else CACHED)
        if path.startswith("/seg/") and self.command == "GET":
            return self.segment_cdn(path[len("/seg/") :])
        if path.startswith("/segapi/"):
            return self.stub("segment", path, query, b'{"success":true}', "application/json")
        if path.startswith("/ph/"):
            return self.posthog(path, query)
        if path == "/empty.js":  # the load-event control: a synchronous script that does nothing
            return self._send(200, b"", "text/javascript", OPEN)
        if path == "/plausible/plausible.js" and self.command == "GET":
            return self._file(PLAUSIBLE / "plausible.js", CACHED)
        if path.startswith("/plausible/"):
            return self.stub("plausible", path, query, b"ok", "text/plain", status=202)
        return self._send(404, b"not found")

    def segment_cdn(self, rest):
        """cdn.segment.com: the library, its lazy bundles, and the source's settings."""
        if rest.startswith("analytics.js/v1/") and rest.endswith("/analytics.min.js"):
            return self._file(SEGMENT_UMD / "standalone.js", CACHED)
        if rest.startswith("analytics-next/bundles/"):
            return self._file(_inside(SEGMENT_UMD, rest[len("analytics-next/bundles/") :]), CACHED)
        if rest.startswith("v1/projects/") and rest.endswith("/settings"):
            body = json.dumps(segment_settings(self.server.segment_api_host)).encode()
            return self._send(200, body, "application/json", CACHED)
        return self._send(404, b"not found")

    def posthog(self, path, query):
        """PostHog's assets host and API host, both under /ph."""
        rest = path[len("/ph") :]
        if self.command == "GET" and rest.startswith("/static/"):
            # Lazy bundles are asked for as /static/<version>/<name>.js first.
            name = re.sub(r"^\d+\.\d+\.\d+[^/]*/", "", rest[len("/static/") :])
            return self._file(_inside(POSTHOG_DIST, name), CACHED)
        if self.command == "GET" and rest == f"/array/{POSTHOG_TOKEN}/config.js":
            return self._send(200, posthog_config_js(), "text/javascript", CACHED)
        if self.command == "GET" and rest == f"/array/{POSTHOG_TOKEN}/config":
            return self._send(200, json.dumps(POSTHOG_REMOTE_CONFIG).encode(), "application/json", self.cors())
        answer = POSTHOG_FLAGS if rest.startswith(("/flags", "/decide")) else b'{"status":1}'
        return self.stub("posthog", path, query, answer, "application/json")

    def stub(self, sdk, path, query, answer, kind, status=200):
        raw = self._body()
        if self.command == "OPTIONS":
            return self._send(204, b"", "text/plain", self.cors())
        arrival = Arrival(time.time() * 1000, sdk, self.command, path, status)
        if self.command == "POST":
            try:
                arrival.events = endpoint_events(sdk, path, query, raw)
            except Exception as exc:  # a body we could not read is recorded, not fatal
                arrival.error = f"{type(exc).__name__}: {exc}"
        if self.headers.get("X-Bench-Sizing") is None:
            self.server.recorder.add(arrival)
        return self._send(status, answer, kind, self.cors())

    def forward(self, target):
        """To the collector, as it came; recorded with the collector's answer."""
        raw = self._body()
        at = time.time() * 1000
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_REQUEST}
        try:
            response = self.server.collector_http.request(self.command, target, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            self.server.recorder.add(Arrival(at, "visitrail", self.command, target, 502, error=str(exc)))
            return self._send(502, b"collector unreachable")
        if self.command == "POST":
            arrival = Arrival(at, "visitrail", self.command, target, response.status_code)
            try:
                arrival.events = visitrail_events(target, raw)
            except Exception as exc:  # as for the stubs: recorded, not fatal
                arrival.error = f"{type(exc).__name__}: {exc}"
            if not 200 <= response.status_code < 300:
                arrival.error = response.text[:300]
            self.server.recorder.add(arrival)
        passed = [(k, v) for k, v in response.headers.items() if k.lower() not in HOP_ANSWER]
        ctype = response.headers.get("content-type", "text/plain")
        return self._send(response.status_code, response.content, ctype, passed)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

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
        self.segment_api_host = f"127.0.0.1:{self.server_address[1]}/segapi/v1"

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
