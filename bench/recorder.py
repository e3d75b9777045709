"""What arrived at the analytics endpoints: each request the hub answered (when, for which SDK,
with what status) and the events it carried, read from each SDK's own body format.

    Recorder.events(case=...)   (arrival, event) pairs of acknowledged requests, by the `case` the
                                page put in each event's properties (a benchmark's part)
"""

import base64
import gzip
import json
import threading
import zlib
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote_plus, urlsplit


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
                if case is None or tagged(event, "case") == case:
                    out.append((arrival, event))
        return out


def tagged(event, name):
    """A bench tag of an event (case, visit): the page's calls carry it as a property, a page view
    in its URL's query, under each SDK's name for the URL; None without it."""
    props = event.props if isinstance(event.props, dict) else {}
    if name in props:
        return str(props[name])
    url = props.get("url") or props.get("$current_url") or ""
    found = parse_qs(urlsplit(str(url)).query).get(name)
    return found[0] if found else None


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
            page = c[4] if len(c) > 4 and isinstance(c[4], dict) else {}
            out.append(Event("page", "", {"url": page.get("url")}, mid))  # the page the call was made on
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
        return [Event("page", name, {**_props(props), "url": body.get("u")}, None)]
    return [Event("track", name, _props(props), None)]


def endpoint_events(sdk, path, query, raw):
    """The events of a POST to a stub endpoint (Segment's, PostHog's or Plausible's)."""
    if sdk == "segment":
        return segment_events(path.rsplit("/", 1)[-1], _json(raw))
    if sdk == "posthog":
        return posthog_events(posthog_body(raw, query))
    return plausible_events(_json(raw))


def visitrail_events(target, raw):
    """The events of a POST to the collector: Segment-shaped messages, or the loader's raw calls."""
    body = _json(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    kind = urlsplit(target).path.rsplit("/", 1)[-1]
    return visitrail_raw_calls(body) if kind == "calls" else segment_events(kind, body)
