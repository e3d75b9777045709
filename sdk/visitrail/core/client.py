"""The SDK's public face: every call from the page (live, or replayed from the loader's stub
queue) goes through Client.call, which never raises into the page.

    Client.call -> getters, debug, consent | recorder.Recorder.record -> delivery.Delivery.push

The client owns what is the browser's alone: the tag's options (options.py), the stores they
choose, the stored consent choice, the delivery of events and the page's lifecycle events (the
automatic page views, Page Left: engagement.py). The rules of a call are the Recorder's, which the
collector shares.
"""

from . import links, options
from .arguments import CallError
from .delivery import Delivery
from .engagement import PAGE_LEFT, Engagement
from .identity import Identity, id_stores
from .ids import uuid4
from .recorder import CONSENT_METHODS, Recorder
from .sessions import Sessions
from .stores import Health, LayeredStore

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable

    from .platform import Platform

CONSENT_KEY = "visitrail_consent"


class Client:
    def __init__(self, platform: "Platform", opts: "dict[str, Any] | None" = None) -> "None":
        o = opts or {}
        self.platform = platform
        self.write_key = o.get("writeKey") or ""
        self.endpoint = o.get("endpoint") or ""
        self.debug_on = options.flag(o.get("debug"), False)
        mode, warning = options.id_storage(o.get("idStorage"))
        if warning:
            self.log("warn", warning)
        self.mode = mode
        self.auto_page = options.flag(o.get("autoPage"), True)

        health = Health(self.log)
        local = None if mode == "memory" else platform.local_store()
        self.local = local
        persist_user = mode != "memory" and options.flag(o.get("persistUser"), True)
        ids, shared = id_stores(platform, mode, o.get("domain"), local, health)
        self.identity = Identity(
            self.new_id,
            ids,
            LayeredStore([(local, "sync")] if persist_user else [], health),
            self.log,
            shared if persist_user else None,  # a user kept for the page only is not shared either
        )
        self.sessions = Sessions(
            LayeredStore([] if mode == "memory" else [(local, "sync")], health),
            options.session_timeout_ms(o.get("sessionTimeout")),
            self.new_id,
            options.session_max_ms(o.get("sessionMaxHours")),
        )
        # data-engagement: a Page Left per page view (engaged time, scroll depth)
        self.engagement = Engagement(platform, self._page_left) if options.flag(o.get("engagement"), True) else None
        self.delivery = Delivery(
            platform,
            self.endpoint,
            self.write_key,
            self.new_id(),
            local,
            health,
            int(options.number(o.get("flushAt"), 20, 1, 500)),
            int(options.number(o.get("flushInterval"), 1000, 0, 600000)),
        )
        self.delivery.debug = self.debug_on
        self.delivery.credentialed = mode == "cookie" and links.same_site(self.endpoint, o.get("domain"))
        self.delivery.identity_mark = lambda: self.identity.changes
        self.delivery.after_refresh = self._after_refresh
        consent = self._stored_consent() or options.initial_consent(o.get("consent"))
        self.recorder = Recorder(
            self.identity, self.sessions, self.delivery.push, platform.environment, consent, self.log
        )
        self.token = o.get("identityToken") or None
        self.link_domains = links.domains_of(o.get("linkDomains"))
        self.link_max_age_ms = int(options.number(o.get("linkMaxAge"), links.DEFAULT_MAX_AGE_S, 0, 86400) * 1000)
        self._link_reported = False
        if not self.endpoint:
            self.log("error", "no data-endpoint on the tag: events are queued but cannot be sent")
        self.started = False

    def new_id(self) -> "str":
        return uuid4(self.platform.random_bytes(16))

    @property
    def consent(self) -> "str":
        return self.recorder.consent

    # Console ------------------------------------------------------------------------------

    def log(self, level: "str", message: "str") -> "None":
        if level == "debug" and not getattr(self, "debug_on", False):
            return
        try:
            self.platform.log(level, message)
        except Exception:
            pass

    # The one entry point ------------------------------------------------------------------

    def call(self, method: "str", args: "list[Any] | None" = None, meta: "dict[str, Any] | None" = None) -> "Any":
        """Run a public call; returns what a getter returns, else None. Never raises."""
        try:
            return self._call(method, list(args or []), meta or {})
        except CallError as e:
            self.log("error", method + "() was dropped: " + str(e))
        except Exception as e:
            self.log("error", method + "() failed inside the SDK: " + type(e).__name__ + ": " + str(e)[:200])
        return None

    def _call(self, method: "str", args: "list[Any]", meta: "dict[str, Any]") -> "Any":
        if method in CONSENT_METHODS:
            return self._decide(method == "consent.grant")
        if method == "consent.state":
            return self.consent
        if method == "debug":
            self.debug_on = options.flag(args[0] if args else True, True)
            self.delivery.debug = self.debug_on
            return None
        if method == "decorate":
            return self._decorate(args[0] if args else None)
        getter = GETTERS.get(method)
        if getter is not None:
            # Before consent nothing is read from storage either.
            return getter(self) if self.consent == "granted" else None
        self.recorder.record(method, args, self._stamp(meta))
        return None

    def _stamp(self, meta: "dict[str, Any]") -> "dict[str, Any]":
        """The call's time, messageId and page: given by the loader for a replayed call, else now."""
        t = meta.get("timestamp")
        t = int(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else self.platform.now_ms()
        message_id = meta.get("messageId")
        if not isinstance(message_id, str) or not message_id or len(message_id) >= 100:
            message_id = self.new_id()
        page = meta.get("page") if isinstance(meta.get("page"), dict) else self.platform.page()
        return {"timestamp": t, "messageId": message_id, "page": page}

    def _after_refresh(self, mark: "int") -> "None":
        if self.identity.changes != mark:  # changed while the request was on its way
            self.identity.reassert()

    # The cross-domain linker (links.py) ---------------------------------------------------

    def _decorate(self, url: "Any") -> "str | None":
        """decorate(url): `url` carrying this visitor and session for another of the site's domains
        (returned unchanged before consent)."""
        if not isinstance(url, str) or not url:
            raise CallError("the URL must be a non-empty string")
        if self.consent != "granted":
            return url
        t = self.platform.now_ms()
        aid = self.identity.anonymous_id()
        sid = self.sessions.current_id()
        return links.decorate(url, links.token(aid, sid, t, self.write_key))

    def _follow(self, href: "Any") -> "Any":
        """A link being followed: decorated when it goes to one of data-link-domains."""
        if isinstance(href, str) and links.linked_domain(href, self.link_domains):
            return self.call("decorate", [href])
        return None

    def adopt_link(self, url: "Any") -> "bool":
        """At boot, before the queued calls are replayed: take the visitor and the session that a
        link from another of the site's domains carries, if it may be taken (links.py); the token
        leaves the address bar either way. True when taken."""
        value = links.param(url) if isinstance(url, str) else None
        if value is None:
            return False
        taken = False
        reason: "str | None" = None
        try:
            if self.consent != "granted":
                reason = "consent is not granted"
            elif self.identity.user_id() is not None:
                reason = "this browser has a signed-in user"
            else:
                reason, found = links.read(value, self.write_key, self.platform.now_ms(), self.link_max_age_ms)
                if found is not None:
                    aid, sid, at = found
                    self.identity.set_anonymous_id(aid)
                    if sid is not None:
                        self.sessions.adopt(sid, at)
                    taken = True
        except Exception as e:
            reason = "internal error: " + type(e).__name__
        if not self._link_reported:
            self._link_reported = True
            self.log(
                "debug",
                "the cross-domain link's visitor was " + ("adopted" if taken else "not adopted: " + str(reason)),
            )
        try:
            self.platform.replace_url(links.without_token(url))
        except Exception as e:
            self.log("error", "internal error: " + type(e).__name__ + ": " + str(e)[:200])
        return taken

    # Consent ------------------------------------------------------------------------------

    def _stored_consent(self) -> "str | None":
        try:
            value = self.local.get(CONSENT_KEY) if self.local is not None else None
        except Exception:
            return None
        return value if value in ("granted", "denied") else None

    def _decide(self, granted: "bool") -> "None":
        held = self.recorder.decide(granted)
        try:
            if self.local is not None:
                self.local.set(CONSENT_KEY, self.consent)  # the choice persists
        except Exception:
            pass
        if granted:
            if self.token:
                self.identity.set_token(self.token)
            for method, args, stamp in held:
                self.call(method, args, stamp)
            if self.started:
                self.delivery.resume()

    # Lifecycle ----------------------------------------------------------------------------

    def start(self, page_meta: "dict[str, Any] | None" = None, page_queued: "bool" = False) -> "None":
        """After the stub queue was replayed: the automatic page view, listeners, leftover sends.

        page_meta: {"timestamp", "page"} of this page's automatic page view; page_queued: the
        loader queued that page view itself as the tag ran (it was replayed first, with the calls
        made before the SDK was up), so none is made here. Without the loader's (an older cached
        loader, or a page without the tag), the page view is made now."""
        if self.started:
            return
        self.started = True
        p = self.platform
        if self.token and self.consent == "granted":
            self.identity.set_token(self.token)  # data-identity-token, rendered by the site's server
        meta = page_meta or {}
        if self.engagement is not None:
            start = meta.get("timestamp") if page_queued else None
            if not isinstance(start, int) or isinstance(start, bool):
                start = p.now_ms() - max(0, int(p.uptime_ms()))
            self.engagement.begin(meta.get("page") or p.page(), start, False)
            p.listen("engaged", self._guard(self.engagement.changed))
        # One listener for both, in this order: the Page Left is queued before the beacon goes.
        p.listen("hide", self._guard(self._on_hide))
        p.listen("storage", self._guard(self._on_storage))
        p.listen("online", self._guard(self.delivery.flush))
        if self.link_domains:
            p.listen("link", self._follow)
        if self.auto_page and not page_queued:
            self.call("page", [], page_meta)
        if self.auto_page or self.engagement is not None:
            p.listen("navigate", self._guard(self._on_navigate))
        if self.consent == "granted":
            self.delivery.resume()

    def _on_hide(self, final: "bool" = False) -> "None":
        if self.engagement is not None:
            try:
                self.engagement.hide(final)
            except Exception as e:  # the beacon goes out all the same
                self.log("error", "internal error: " + type(e).__name__ + ": " + str(e)[:200])
        self.delivery.on_hide(final)

    def _on_navigate(self) -> "None":
        """A single-page-app navigation: the Page Left of the page view left, then the new page view."""
        if self.engagement is not None:
            self.engagement.navigate(self.platform.page())
        if self.auto_page:
            self.call("page", [])

    def _page_left(self, properties: "dict[str, Any]", page: "dict[str, Any]") -> "None":
        self.call("track", [PAGE_LEFT, properties], {"page": page})

    def _on_storage(self, key: "str | None", value: "str | None") -> "None":
        if self.consent == "granted":
            self.delivery.on_storage(key, value)

    def flush(self, on_done: "Callable[[bool], None] | None" = None) -> "None":
        try:
            self.delivery.flush(on_done)
        except Exception as e:
            self.log("error", "flush() failed inside the SDK: " + str(e)[:200])
            if on_done is not None:
                on_done(False)

    def _guard(self, fn: "Callable[..., object]") -> "Callable[..., None]":
        def run(*args: "Any") -> "None":
            try:
                fn(*args)
            except Exception as e:
                self.log("error", "internal error: " + type(e).__name__ + ": " + str(e)[:200])

        return run


GETTERS: "dict[str, Callable[[Client], Any]]" = {
    "user.anonymousId": lambda c: c.identity.anonymous_id(),
    "user.id": lambda c: c.identity.user_id(),
    "user.traits": lambda c: c.identity.traits(),
    "session.id": lambda c: c.sessions.current_id(),
}

__all__ = ["Client"]
