"""Raw calls from the loader's last-chance beacon: `POST /v1/calls`.

When a page is left before the Python SDK has booted, the JS loader sends the calls it queued in
one `navigator.sendBeacon` (text/plain, so no preflight), instead of only keeping them for the
next page:

    {"writeKey": "KEY", "anonymousId": "<visitor ID>", "userId": "u1" | null,
     "identityToken": "<JWT>" | null,                     optional: the token the page holds
     "session": "<raw JSON of localStorage visitrail_session>" | null,
     "environment": {"locale": "en-US", "timezone": "Europe/Paris",    optional
                     "automation": false},                 navigator.webdriver: context.automation
     "sessionTimeout": 30,                                 optional: the tag's data-session-timeout
     "sessionMaxHours": 24,                                optional: the tag's data-session-max-hours
     "sentAt": "<ISO-8601>",
     "calls": [[method, args, timeMs, messageId, page], ...]}

The collector turns them into the events the SDK would have sent, with the SDK's own code: the
core's `Recorder` (visitrail/core/recorder.py: arguments, identity, sessions, events), over an
identity and a session record seeded from the beacon (the page's visitor ID, user ID, token and
session record) and the SDK's reading of the tag's session timeout and maximum length
(core/options.py). So the
session IDs are the ones the SDK computes when the next page replays the same calls, and the
replay, which carries the same messageIds, is acknowledged and stored once (dedupe by messageId,
like any retry). What follows from that, rule by rule, is the Recorder's; three things are the
beacon's own:
- Consent: the loader sends a beacon only once consent is granted, but does not say what it was
  when the page started. Calls before the first consent decision are taken as granted, unless
  the calls hold a consent.deny: then they are taken as made without consent, and dropped (the
  SDK would have held them; by the deny they were gone).
- What the collector can't know stops the beacon: after reset, rotate, or an identify of another
  user than the one held, the SDK carries on with an ID it draws at random. Every call from there
  on is left to the SDK's replay on the next page.
- Identify traits are sent as given: the beacon carries no traits held in storage to merge with
  (the SDK's replay, which can, is a duplicate by then).

All or nothing, like a batch: a body or a call that can't be read (not a 5-item list, an unknown
method, arguments `calls.parse` refuses, a bad time or messageId) is a 400 listing `{index,
reason}` per bad call, and nothing of the beacon is stored. The events built then go through the
same pipeline as a batch's messages (tracking.py): validation, `sentAt` skew correction, identity
tokens (a `required` source drops the events it would drop from a batch), dedupe and storage.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing

from visitrail.core import arguments, options
from visitrail.core.identity import ANON_KEY, USER_KEY, Identity
from visitrail.core.ids import looks_like_id
from visitrail.core.platform import MemoryStore
from visitrail.core.recorder import CONSENT_METHODS, METHODS, RECORDED, Recorder
from visitrail.core.sessions import SESSION_KEY, Sessions
from visitrail.core.stores import Health, LayeredStore, dump_record

from .errors import invalid
from .messages import MAX_BATCH_MESSAGES, MAX_ERRORS_LISTED, MAX_MESSAGE_ID_CHARS, text_problem
from .timestamps import parse_timestamp

__all__ = ["Expanded", "check_body", "expand"]

MAX_TIME_MS = 253402300800000  # 10000-01-01T00:00:00Z: ISO-8601 years have four digits
# The SDK counts a session's events from 1; JavaScript's numbers are exact up to 2**53.
MAX_SEQUENCE = 2**53
SESSION_NUMBERS = ("startedAt", "lastActivity", "sequence")
ENVIRONMENT_KEYS = ("locale", "timezone")  # strings
ENVIRONMENT_FLAGS = ("automation",)  # booleans


class Unknowable(Exception):
    """The SDK would carry on with an ID drawn at random in the browser: the beacon stops here."""


def _unknowable() -> str:
    raise Unknowable()


@dataclasses.dataclass
class Expanded:
    """A beacon as a batch: `body` for messages.normalise (its `batch` is `items`), and for each
    item the index of the call it was built from."""

    body: dict[str, typing.Any]
    items: list[dict[str, typing.Any]]
    indexes: list[int]


def check_body(body: typing.Any) -> list[typing.Any]:
    """A beacon body must be an object (checked before its write key is looked for); returns no
    items, since those are built from its calls by `expand`."""
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    return []


def _is_number(value: typing.Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def call_problem(call: typing.Any) -> str | None:
    """Why the call can't be read, or None: its shape, and the arguments `arguments.parse` refuses."""
    if not isinstance(call, list) or len(call) != 5:
        return "a call must be a list [method, args, timeMs, messageId, page]"
    method, args, at, message_id, page = call
    if not isinstance(method, str) or method not in METHODS:
        return f"unknown method {method!r}"
    if not isinstance(args, list):
        return "args must be a list"
    if not _is_number(at) or not 0 <= at < MAX_TIME_MS:
        return "the time must be a number of milliseconds since 1970"
    if not isinstance(message_id, str) or not message_id or len(message_id) >= MAX_MESSAGE_ID_CHARS:
        return f"messageId must be a non-empty string of fewer than {MAX_MESSAGE_ID_CHARS} characters"
    if page is not None and not isinstance(page, dict):
        return "page must be an object or null"
    if method in arguments.EVENT_METHODS or method in ("reset", "setAnonymousId"):
        try:
            arguments.parse(method, args)  # warnings: fields dropped, as the SDK drops them
        except arguments.CallError as exc:
            return f"{method}(): {exc}"
    return None


def _header(
    body: dict[str, typing.Any],
) -> tuple[str, str | None, typing.Any, str | None, dict[str, typing.Any], list[typing.Any]]:
    """The beacon's fields around its calls, checked: 400 if one is unusable."""
    anonymous_id = body.get("anonymousId")
    if not looks_like_id(anonymous_id):
        raise invalid("anonymousId is required: the visitor ID the page holds (printable, at most 100 characters)")
    user_id = body.get("userId")
    if user_id == "":
        user_id = None
    if user_id is not None and (not isinstance(user_id, str) or len(user_id) > arguments.MAX_ID_CHARS):
        raise invalid(f"userId must be null or a string of at most {arguments.MAX_ID_CHARS} characters")
    session = body.get("session")
    if session is not None and not isinstance(session, str):
        raise invalid("session must be null or the session record's JSON text, as localStorage holds it")
    if session is not None:
        _check_session(session)
    sent_at = body.get("sentAt")
    if sent_at is not None and parse_timestamp(sent_at) is None:
        raise invalid("sentAt must be an ISO-8601 date-time")
    environment = body.get("environment")
    if environment is not None and not isinstance(environment, dict):
        raise invalid("environment must be an object")
    kept = {
        key: value
        for key, value in (environment or {}).items()
        if (key in ENVIRONMENT_KEYS and isinstance(value, str)) or (key in ENVIRONMENT_FLAGS and value is True)
    }
    calls = body.get("calls")
    if not isinstance(calls, list):
        raise invalid("a beacon body needs a 'calls' array")
    if len(calls) > MAX_BATCH_MESSAGES:
        raise invalid(f"beacon has {len(calls)} calls; the limit is {MAX_BATCH_MESSAGES}")
    return anonymous_id, user_id, body.get("identityToken"), session, kept, calls


class OutOfRange(ValueError):
    pass


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > len(str(MAX_TIME_MS)):
        raise OutOfRange()
    return int(text)


def _check_session(raw: str) -> None:
    """400 for a session record the core would fail on rather than ignore: text that can't become
    an ID (a lone surrogate can't be hashed into the next session's ID), numbers beyond what a page
    can hold (a 4,300-digit sequence can't even be written back). A record the core merely can't
    read (not JSON, not an object) is left to it: like the SDK, it starts a new session."""
    try:
        record = json.loads(raw, parse_int=_bounded_int)
    except OutOfRange:
        raise invalid("the session record holds a number out of range") from None
    except (ValueError, RecursionError):
        return
    problem = text_problem(record)
    if problem is not None:
        raise invalid(f"the session record {problem}")
    if not isinstance(record, dict):
        return
    for field in SESSION_NUMBERS:
        value = record.get(field)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            limit = MAX_SEQUENCE if field == "sequence" else MAX_TIME_MS
            if not (math.isfinite(value) and -limit <= value <= limit):
                raise invalid(f"the session record's {field} is out of range")


def _recorder(body: dict[str, typing.Any], emit: typing.Callable[[dict[str, typing.Any]], None]) -> Recorder:
    """A Recorder over what the page held when it sent the beacon."""
    anonymous_id, user_id, token, session, environment, calls = _header(body)
    health = Health(lambda level, message: None)
    user: dict[str, typing.Any] = {} if user_id is None else {"id": user_id}
    if token is not None:
        user["token"] = token
    identity = Identity(
        _unknowable,
        LayeredStore([(MemoryStore({ANON_KEY: anonymous_id}), "sync")], health),
        LayeredStore([(MemoryStore({USER_KEY: dump_record(user)}), "sync")], health),
        health.log,
    )
    sessions = Sessions(
        LayeredStore([(MemoryStore({} if session is None else {SESSION_KEY: session}), "sync")], health),
        options.session_timeout_ms(body.get("sessionTimeout")),
        _unknowable,
        options.session_max_ms(body.get("sessionMaxHours")),
    )
    denied = any(isinstance(call, list) and call[:1] == ["consent.deny"] for call in calls)
    return Recorder(identity, sessions, emit, lambda: environment, "denied" if denied else "granted")


def expand(body: typing.Any) -> Expanded:
    """The events a beacon's calls make, or raise 400 (nothing is built then)."""
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    calls = _header(body)[-1]
    errors = []
    for index, call in enumerate(calls):
        reason = call_problem(call)
        if reason is not None:
            errors.append({"index": index, "reason": reason})
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise invalid(f"call {first['index']}: {first['reason']}{more}", errors[:MAX_ERRORS_LISTED])

    items: list[dict[str, typing.Any]] = []
    indexes: list[int] = []
    current = [0]

    def emit(message: dict[str, typing.Any]) -> None:
        items.append(message)
        indexes.append(current[0])

    recorder = _recorder(body, emit)
    try:
        for index, (method, args, at, message_id, page) in enumerate(calls):
            current[0] = index
            if method in CONSENT_METHODS:
                recorder.decide(method == "consent.grant")  # nothing is ever held: see the docstring
            elif method in RECORDED:  # getters and debug make nothing
                recorder.record(method, list(args), {"timestamp": int(at), "messageId": message_id, "page": page})
    except Unknowable:
        pass
    except (UnicodeError, ValueError, OverflowError) as exc:
        # What the checks above let through and the core still can't replay is the input's fault:
        # a 400 for that call, never a 500.
        reason = f"can't be replayed: {exc}"[:200]
        raise invalid(f"call {current[0]}: {reason}", [{"index": current[0], "reason": reason}]) from None
    batch_body: dict[str, typing.Any] = {"batch": items}
    if body.get("sentAt") is not None:
        batch_body["sentAt"] = body["sentAt"]
    return Expanded(batch_body, items, indexes)
