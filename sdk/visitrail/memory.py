"""An in-memory platform for tests, on CPython and on MicroPython.

A World is what tabs of one browser share: the clock and its timers, localStorage, cookies and the
network (a handler standing in for the collector). Each MemoryPlatform is one tab in that world.
Nothing happens on its own: time moves only when a test calls world.advance(ms), and responses
to sends arrive as timers (after `latency_ms`), so a test controls every interleaving.
"""

import json
import random

from .core.platform import MemoryStore, Platform, QuotaError, Store

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable

    Timer = list[Any]  # [due, order, fn, cancelled]

START_MS = 1764039320000  # 2025-11-25T02:55:20Z: any fixed instant keeps tests repeatable


class World:
    def __init__(
        self,
        # handler(url, body) answers for the collector: a status, or (status, retry_after_s, text)
        handler: "Callable[[str, dict[str, Any]], int | tuple[Any, ...]] | None" = None,
        now_ms: "int" = START_MS,
        seed: "int" = 1,
    ) -> "None":
        self.now = now_ms
        self.timers: "list[Timer]" = []
        self._order = 0
        self.local: "dict[str, str]" = {}
        self.cookies: "dict[str, tuple[str, str | None]]" = {}  # name -> (value, domain)
        self.handler = handler or (lambda url, body: 200)
        self.latency_ms = 0
        self.online = True
        self.sent: "list[tuple[dict[str, Any], int]]" = []  # every request body, parsed, in order
        self.beacons: "list[dict[str, Any]]" = []
        self.rng = random.Random(seed) if hasattr(random, "Random") else random
        self.tabs: "list[MemoryPlatform]" = []
        # (credentialed) -> None, or a function run when the answer arrives: a test's stand-in for
        # the collector's Set-Cookie headers.
        self.answer_hook: "Callable[[bool], Callable[[], None] | None] | None" = None

    def add_timer(self, fn: "Callable[[], None]", ms: "float") -> "Timer":
        self._order += 1
        t = [self.now + max(0, int(ms)), self._order, fn, False]
        self.timers.append(t)
        return t

    def advance(self, ms: "int" = 0) -> "None":
        """Move the clock forward by ms, running every timer that falls due, in order."""
        end = self.now + ms
        while True:
            due = [t for t in self.timers if not t[3] and t[0] <= end]
            if not due:
                break
            due.sort(key=lambda t: (t[0], t[1]))
            t = due[0]
            self.timers.remove(t)
            self.now = max(self.now, t[0])
            t[2]()
        self.now = end

    def run_until_idle(self, limit_ms: "int" = 3600000) -> "None":
        """Advance timer by timer until none is left (or limit_ms has passed)."""
        end = self.now + limit_ms
        while True:
            live = [t for t in self.timers if not t[3]]
            if not live:
                return
            nxt = min(t[0] for t in live)
            if nxt > end:
                return
            self.advance(max(0, nxt - self.now))

    def stored(self) -> "list[dict[str, Any]]":
        """Messages the fake collector acknowledged, deduplicated by messageId like the real one."""
        seen, out = {}, []
        for body, status in self.sent:
            if 200 <= status < 300:
                for m in body.get("batch", []):
                    if m["messageId"] not in seen:
                        seen[m["messageId"]] = True
                        out.append(m)
        return out


class DictStore(MemoryStore):
    name = "localStorage"


class CookieJar(Store):
    """document.cookie's behaviour for one tab: a value per name, with the domain it was set for."""

    name = "cookie"

    def __init__(self, world: "World", domain: "str | None") -> "None":
        self.world = world
        self.domain = domain

    def get(self, key: "str") -> "str | None":
        item = self.world.cookies.get(key)
        return item[0] if item else None

    def set(self, key: "str", value: "str") -> "None":
        self.world.cookies[key] = (value, self.domain)

    def remove(self, key: "str") -> "None":
        self.world.cookies.pop(key, None)


class BrokenStore(Store):
    """A store that throws on every access, as a blocked localStorage or cookie jar does."""

    def __init__(self, name: "str" = "localStorage", message: "str" = "SecurityError: access is denied") -> "None":
        self.name = name
        self.message = message

    def get(self, key: "str") -> "str | None":
        raise RuntimeError(self.message)

    def set(self, key: "str", value: "str") -> "None":
        raise RuntimeError(self.message)

    def remove(self, key: "str") -> "None":
        raise RuntimeError(self.message)


class QuotaStore(DictStore):
    """localStorage with a byte quota: set() past it raises QuotaExceededError."""

    def __init__(self, data: "dict[str, str]", quota_bytes: "int") -> "None":
        MemoryStore.__init__(self, data)
        self.quota = quota_bytes

    def set(self, key: "str", value: "str") -> "None":
        used = sum(len(k) + len(v) for k, v in self.data.items() if k != key)
        if used + len(key) + len(value) > self.quota:
            raise QuotaError("QuotaExceededError: the quota has been exceeded")
        self.data[key] = value


class MemoryPlatform(Platform):
    def __init__(
        self,
        world: "World | None" = None,
        local: "Store | None" = None,
        cookies: "bool | Store" = True,
        page: "dict[str, Any] | None" = None,
    ) -> "None":
        self.world = world or World()
        self.world.tabs.append(self)
        self._local = local if local is not None else DictStore(self.world.local)
        self._cookies = cookies
        self.cookie_jars: "list[CookieJar]" = []
        self.logs: "list[tuple[str, str]]" = []
        self.listeners: "dict[str, list[Callable[..., Any]]]" = {}
        self.replaced: "list[str]" = []  # replace_url()'s, in order
        self.credentialed = False  # the last send()'s
        self.current_page = page or {
            "path": "/",
            "url": "http://127.0.0.1:8000/",
            "title": "Test",
            "referrer": "",
            "search": "",
        }
        # What engagement.py asks of the page (a test sets them, then emits "engaged"): visible and
        # focused, the deepest scroll so far, the document's age; navigator.webdriver.
        self.visible = True
        self.focused = True
        self.depth = 0  # where the viewport's bottom is now, 0-100
        self.deepest = 0
        self.uptime = 0
        self.webdriver = False

    def now_ms(self) -> "int":
        return self.world.now

    def random_bytes(self, n: "int") -> "bytes":
        return bytes(self.world.rng.getrandbits(8) for _ in range(n))

    def local_store(self) -> "Store":
        return self._local

    def cookie_store(self, domain: "str | None" = None, max_age_s: "int" = 31536000) -> "Store | None":
        if self._cookies is False:
            return None
        if isinstance(self._cookies, Store):
            return self._cookies
        jar = CookieJar(self.world, domain)
        self.cookie_jars.append(jar)
        return jar

    def send(
        self,
        url: "str",
        body: "str",
        on_done: "Callable[[int, int | None, str | None], None]",
        credentialed: "bool" = False,
    ) -> "None":
        w = self.world
        self.credentialed = credentialed
        parsed = json.loads(body)
        result = w.handler(url, parsed) if w.online else 0
        result = tuple(result) if isinstance(result, tuple) else (result,)
        status, retry_after, text = (result + (None, None))[:3]
        w.sent.append((parsed, status))
        answer = w.answer_hook(credentialed) if w.answer_hook is not None else None

        def arrive() -> "None":
            if answer is not None:
                answer()  # what the answer's headers do before the page sees it (Set-Cookie)
            on_done(status, retry_after, text)

        w.add_timer(arrive, w.latency_ms)

    def beacon(self, url: "str", body: "str") -> "bool":
        self.world.beacons.append(json.loads(body))
        return True

    def set_timeout(self, fn: "Callable[[], None]", ms: "int") -> "Timer":
        return self.world.add_timer(fn, ms)

    def clear_timeout(self, handle: "Timer | None") -> "None":
        if handle is not None:
            handle[3] = True

    def listen(self, name: "str", fn: "Callable[..., None]") -> "None":
        self.listeners.setdefault(name, []).append(fn)

    def emit(self, name: "str", *args: "Any") -> "None":
        for fn in self.listeners.get(name, []):
            fn(*args)

    def follow(self, href: "str") -> "str":
        """A click on a link to `href`: the URL the browser then follows (the "link" listeners')."""
        for fn in self.listeners.get("link", []):
            new = fn(href)
            if isinstance(new, str):
                href = new
        return href

    def replace_url(self, url: "str") -> "None":
        self.current_page = dict(self.current_page, url=url)
        self.replaced.append(url)

    def is_online(self) -> "bool":
        return self.world.online

    def engaged(self) -> "bool":
        return self.visible and self.focused

    def scroll_depth(self, reset: "bool" = False) -> "int":
        if reset:
            self.deepest = 0
        self.deepest = max(self.deepest, self.depth)
        return self.deepest

    def scroll_to(self, depth: "int") -> "None":
        """The visitor scrolls: the viewport's bottom at `depth` (0-100) of the page."""
        self.depth = depth
        self.scroll_depth()

    def uptime_ms(self) -> "int":
        return self.uptime

    def page(self) -> "dict[str, Any]":
        return dict(self.current_page)

    def environment(self) -> "dict[str, Any]":
        return {"locale": "en-US", "timezone": "UTC", "automation": self.webdriver}

    def log(self, level: "str", message: "str") -> "None":
        self.logs.append((level, message))

    def errors(self, level: "str" = "error") -> "list[str]":
        return [m for lv, m in self.logs if lv == level]
