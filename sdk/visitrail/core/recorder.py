"""One public call, applied to an identity and a session record: the one home of a call's rules.

    record(method, args, stamp) -> consent -> arguments.parse -> identity / sessions -> events.build -> emit

The browser's Client records every call through a Recorder (live calls, and the calls the loader
queued before Python was up). So does the collector, for the raw calls of the loader's last-chance
beacon (collector/raw_calls.py), over an identity and a session record seeded from the beacon: the
same code makes the same events, with the same session IDs, wherever it runs.

`stamp` is when and where the call was made: {"timestamp": ms, "messageId": str, "page": dict|None}.
A call that cannot be made raises arguments.CallError (the caller says so once in the console).

The rules, in order:
- consent: while "pending", calls that would store or send are held, with their stamps; "denied"
  drops them. `decide()` returns the held calls on grant, for the caller to record again.
- rotate() and reset() start a new session (reset also forgets the user, and the visitor unless
  keepAnonymousId); setAnonymousId() adopts an ID. These make no event.
- identify: traits merge with those held, set-once traits (options.setOnce, sent as
  context.traitsOnce) only where no set-once value is held; an identify that changes nothing since
  the last one sent is not sent again; another user than the one held starts from nothing, on a
  new visitor ID (identity.py).
- alias: previousId defaults to the current user ID, else the visitor ID.
- every event is stamped with the session of its own time (sessions.py: the timeout, the maximum
  length; the first event of a session is its entry, whose page's campaign every event of the
  session carries), then built (events.py), its page without a cross-domain link's token (links.py).
- identify, group and a consent grant never start a session by themselves: their events are
  stamped like any other.
"""

from . import arguments, links
from .events import build

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable

    from .identity import Identity
    from .sessions import Sessions

    Held = tuple[str, list[Any], dict[str, Any]]  # a call consent holds: (method, args, stamp)

EVENT_METHODS = arguments.EVENT_METHODS
STATE_METHODS = ("reset", "rotate", "setAnonymousId")
RECORDED = EVENT_METHODS + STATE_METHODS  # what consent holds while pending
CONSENT_METHODS = ("consent.grant", "consent.deny")
GETTERS = ("user.anonymousId", "user.id", "user.traits", "session.id", "consent.state")
# Every method window.analytics hands to Python (web/loader.js, browser/bridge.py).
METHODS = RECORDED + CONSENT_METHODS + GETTERS + ("debug", "decorate")


def _quiet(level: "str", message: "str") -> "None":
    pass


class Recorder:
    def __init__(
        self,
        identity: "Identity",
        sessions: "Sessions",
        emit: "Callable[[dict[str, Any]], object]",
        environment: "Callable[[], dict[str, Any]] | None" = None,
        consent: "str" = "granted",
        log: "Callable[[str, str], None] | None" = None,
    ) -> "None":
        self.identity = identity
        self.sessions = sessions
        self.emit = emit  # emit(message): the event is made
        self.environment = environment  # () -> {locale, timezone}, or None
        self.consent = consent
        self.held: "list[Held]" = []
        self.log = log or _quiet

    def record(self, method: "str", args: "list[Any]", stamp: "dict[str, Any]") -> "None":
        if self.consent != "granted":
            if self.consent == "pending" and method in RECORDED:
                self.held.append((method, args, stamp))
            return
        t = stamp["timestamp"]
        if method == "rotate":
            self.sessions.rotate(t)
            return
        fields, warnings = arguments.parse(method, args)
        if warnings:
            self.log("error", method + "(): " + "; ".join(warnings))
        if method == "reset":
            self.identity.reset(bool(fields["options"].get("keepAnonymousId")))
            self.sessions.rotate(t)
            return
        if method == "setAnonymousId":
            self.identity.set_anonymous_id(fields["anonymousId"])
            return
        self._event(method, fields, stamp)

    def decide(self, granted: "bool") -> "list[Held]":
        """consent.grant (True) or consent.deny: the calls held meanwhile, to record again on a grant."""
        self.consent = "granted" if granted else "denied"
        held, self.held = self.held, []
        return held if granted else []

    def _event(self, kind: "str", fields: "dict[str, Any]", stamp: "dict[str, Any]") -> "None":
        t = stamp["timestamp"]
        if kind == "identify":
            opts = fields["options"]
            traits, send = self.identity.identify(
                fields["userId"], fields["traits"], opts.get("identityToken"), opts.get("setOnce")
            )
            if not send:
                self.log("debug", "identify unchanged since the last one sent: not sent again")
                return
            fields["traits"] = traits
        elif kind == "group":
            fields["traits"] = self.identity.set_group(fields["groupId"], fields["traits"])
        ids = self.identity.snapshot()
        if kind == "alias" and not fields.get("previousId"):
            fields["previousId"] = ids.get("userId") or ids["anonymousId"]
        page = links.page_without_token(stamp.get("page"))  # a cross-domain link's token goes no further
        session = self.sessions.touch(t, ids["anonymousId"], page)  # a session's first event is its entry
        environment = self.environment() if self.environment is not None else None
        self.emit(build(kind, fields, ids, t, stamp["messageId"], page, session, environment))
