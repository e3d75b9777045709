"""The SDK's public face: every call from the page (live, or replayed from the loader's stub
queue) goes through Client.call, which never raises into the page.

    call -> calls.parse (arguments) -> identity / session -> events.build -> queue.Delivery
"""

import json

from . import calls
from .calls import CallError
from .events import build
from .identity import Identity, id_stores
from .ids import uuid4
from .queue import Delivery
from .session import DEFAULT_TIMEOUT_MIN, Sessions
from .storage import Health, LayeredStore

ID_STORAGE_MODES = ("localStorage", "cookie", "memory")
CONSENT_KEY = "visitrail_consent"
# Calls held while consent is pending: they change identity or make events.
HELD = ("identify", "track", "page", "group", "alias", "reset", "rotate", "setAnonymousId")


def _flag(value, default):
    if value is None:
        return default
    if isinstance(value, str):
        # A data-* attribute: present without a value (`data-debug`) means true.
        return value.strip().lower() not in ("false", "0", "no", "off")
    return bool(value)


def _number(value, default, lo, hi):
    try:
        n = float(value)
    except (TypeError, ValueError):
        return default
    if n != n or n < lo or n > hi:
        return default
    return n


class Client:
    def __init__(self, platform, options=None):
        o = options or {}
        self.platform = platform
        self.write_key = o.get("writeKey") or ""
        self.endpoint = o.get("endpoint") or ""
        mode = o.get("idStorage") or "localStorage"
        if mode not in ID_STORAGE_MODES:
            self.log("warn", "unknown data-id-storage " + json.dumps(mode) + "; using localStorage")
            mode = "localStorage"
        self.mode = mode
        self.debug_on = _flag(o.get("debug"), False)
        self.auto_page = _flag(o.get("autoPage"), True)
        timeout_min = _number(o.get("sessionTimeout"), DEFAULT_TIMEOUT_MIN, 1, 24 * 60)

        health = Health(self.log)
        local = None if mode == "memory" else platform.local_store()
        user_layers = [] if (mode == "memory" or not _flag(o.get("persistUser"), True)) else [(local, "sync")]
        self.identity = Identity(platform, id_stores(platform, mode, o.get("domain"), local, health),
                                 LayeredStore(user_layers, health), self.log)
        session_layers = [] if mode == "memory" else [(local, "sync")]
        self.sessions = Sessions(platform, LayeredStore(session_layers, health), int(timeout_min * 60000))
        self.delivery = Delivery(platform, self.endpoint, self.write_key, local, health,
                                 int(_number(o.get("flushAt"), 20, 1, 500)),
                                 int(_number(o.get("flushInterval"), 1000, 0, 600000)))
        self.delivery.debug = self.debug_on
        self.local = local
        self.held = []
        self.consent = self._stored_consent() or (o.get("consent") if o.get("consent") in ("pending", "granted") else "granted")
        self.token = o.get("identityToken") or None
        if not self.endpoint:
            self.log("error", "no data-endpoint on the tag: events are queued but cannot be sent")
        self.started = False

    # Console ------------------------------------------------------------------------------

    def log(self, level, message):
        if level == "debug" and not getattr(self, "debug_on", False):
            return
        try:
            self.platform.log(level, message)
        except Exception:
            pass

    # The one entry point ------------------------------------------------------------------

    def call(self, method, args=None, meta=None):
        """Run a public call; returns what a getter returns, else None. Never raises."""
        try:
            return self._call(method, list(args or []), meta or {})
        except CallError as e:
            self.log("error", method + "() was dropped: " + str(e))
        except Exception as e:
            self.log("error", method + "() failed inside the SDK: " + type(e).__name__ + ": " + str(e)[:200])
        return None

    def _call(self, method, args, meta):
        if method in ("consent.grant", "consent.deny"):
            return self._decide(method == "consent.grant")
        if method == "consent.state":
            return self.consent
        if self.consent != "granted":
            # Pending: nothing stored, nothing sent; the call keeps the time and page it was made
            # at, for grant(). Denied: dropped.
            if self.consent == "pending" and method in HELD:
                self.held.append((method, args, self._stamp(meta)))
            return None
        getter = GETTERS.get(method)
        if getter is not None:
            return getter(self)
        if method == "debug":
            self.debug_on = _flag(args[0] if args else True, True)
            self.delivery.debug = self.debug_on
            return None
        if method == "rotate":
            self.sessions.rotate(self.platform.now_ms())
            return None
        fields, warnings = calls.parse(method, args)
        if warnings:
            self.log("error", method + "(): " + "; ".join(warnings))
        if method == "reset":
            opts = fields["options"]
            self.identity.reset(bool(opts.get("keepAnonymousId")))
            self.sessions.rotate(self.platform.now_ms())
            return None
        if method == "setAnonymousId":
            self.identity.set_anonymous_id(fields["anonymousId"])
            return None
        return self._event(method, fields, meta)

    def _stamp(self, meta):
        """The call's time, messageId and page: given by the loader for a replayed call, else now."""
        t = meta.get("timestamp")
        t = int(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else self.platform.now_ms()
        message_id = meta.get("messageId")
        if not isinstance(message_id, str) or not message_id or len(message_id) >= 100:
            message_id = uuid4(self.platform.random_bytes(16))
        page = meta.get("page") if isinstance(meta.get("page"), dict) else self.platform.page()
        return {"timestamp": t, "messageId": message_id, "page": page}

    def _event(self, kind, fields, meta):
        meta = self._stamp(meta)
        t = meta["timestamp"]
        if kind == "identify":
            token = fields["options"].get("identityToken")
            traits, send = self.identity.identify(fields["userId"], fields["traits"], token)
            if not send:
                if self.debug_on:
                    self.log("debug", "identify unchanged since the last one sent: not sent again")
                return None
            fields["traits"] = traits
        elif kind == "group":
            fields["traits"] = self.identity.set_group(fields["groupId"], fields["traits"])
        ids = self.identity.snapshot()
        if kind == "alias" and not fields.get("previousId"):
            fields["previousId"] = ids.get("userId") or ids["anonymousId"]
        session = self.sessions.touch(t, ids["anonymousId"])
        msg = build(kind, fields, ids, t, meta["messageId"], meta["page"], session, self.platform.environment())
        self.delivery.push(msg)
        return None

    # Consent ------------------------------------------------------------------------------

    def _stored_consent(self):
        try:
            value = self.local.get(CONSENT_KEY) if self.local is not None else None
        except Exception:
            return None
        return value if value in ("granted", "denied") else None

    def _decide(self, granted):
        self.consent = "granted" if granted else "denied"
        try:
            if self.local is not None:
                self.local.set(CONSENT_KEY, self.consent)  # the choice persists
        except Exception:
            pass
        held, self.held = self.held, []
        if granted and self.token:
            self.identity.set_token(self.token)
        if granted:
            for method, args, meta in held:
                self.call(method, args, meta)
            if self.started:
                self._begin()
        return None

    # Lifecycle ----------------------------------------------------------------------------

    def start(self, page_meta=None):
        """After the stub queue was replayed: the automatic page view, listeners, leftover sends."""
        if self.started:
            return
        self.started = True
        p = self.platform
        if self.token and self.consent == "granted":
            self.identity.set_token(self.token)  # data-identity-token, rendered by the site's server
        p.listen("hide", self._guard(self.delivery.on_hide))
        p.listen("storage", self._guard(self._on_storage))
        p.listen("online", self._guard(lambda: self.delivery.flush()))
        if self.auto_page:
            self.call("page", [], page_meta)
            p.listen("navigate", self._guard(lambda: self.call("page", [])))
        if self.consent == "granted":
            self._begin()

    def _begin(self):
        self.delivery.adopt()
        if self.delivery.pending():
            self.delivery.flush()  # what an earlier page (or the replay) left behind

    def _on_storage(self, key, value):
        if self.consent == "granted":
            self.delivery.on_storage(key, value)

    def flush(self, on_done=None):
        try:
            self.delivery.flush(on_done)
        except Exception as e:
            self.log("error", "flush() failed inside the SDK: " + str(e)[:200])
            if on_done is not None:
                on_done(False)

    def _guard(self, fn):
        def run(*args):
            try:
                fn(*args)
            except Exception as e:
                self.log("error", "internal error: " + type(e).__name__ + ": " + str(e)[:200])
        return run


GETTERS = {
    "user.anonymousId": lambda c: c.identity.anonymous_id(),
    "user.id": lambda c: c.identity.user_id(),
    "user.traits": lambda c: c.identity.traits(),
    "session.id": lambda c: c.sessions.current_id(),
}

__all__ = ["Client"]
