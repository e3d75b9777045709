"""Raw calls from the loader's last-chance beacon: `POST /v1/calls`.

When a page is left before the Python SDK has booted, the JS loader sends the calls it queued in
one `navigator.sendBeacon` (text/plain, so no preflight), instead of only keeping them for the
next page:

    {"writeKey": "KEY", "anonymousId": "<visitor ID>", "userId": "u1" | null,
     "identityToken": "<JWT>" | null,                     optional: the token the page holds
     "session": "<raw JSON of localStorage visitrail_session>" | null,
     "environment": {"locale": "en-US", "timezone": "Europe/Paris"},   optional
     "sessionTimeout": 30,                                 optional: the tag's data-session-timeout
     "sentAt": "<ISO-8601>",
     "calls": [[method, args, timeMs, messageId, page], ...]}

The collector turns them into the events the SDK would have sent, with the SDK core's own code:
`visitrail.calls.parse` reads the arguments, `visitrail.events.build` makes the message, and
`visitrail.session.Sessions`, over a memory store seeded with the page's session record and the
SDK's timeout (30 minutes unless the beacon says otherwise, read as the SDK reads the tag's
setting), stamps the session, so the session ID is the one the SDK computes when the next page
replays the same calls. The replay carries the same messageIds, so it is acknowledged and stored
once (dedupe by messageId, like any retry).

In order, as the SDK would run them:
- identify with a userId makes it the userId of the calls after it; identify traits are sent as
  given (the loader can't merge them with the traits held in storage; the SDK's replay, which can,
  is a duplicate by then). An identityToken in its options is the token of the calls after it.
- group and alias are built as the SDK builds them (alias' previousId defaults to the userId, else
  the anonymousId); page and track as usual.
- setAnonymousId changes the anonymousId of the calls after it; debug, getters and
  consent.grant do nothing. The loader sends a beacon only once consent is granted; after a
  consent.deny, only the calls after the grant that follows it are built: the SDK drops what was
  held when consent was denied and what was made while it was (and whether calls before the deny
  were made under a granted consent, the beacon doesn't say).
- reset and rotate stop the beacon: the calls after them have an anonymous ID or a session that
  the SDK makes at random, which the collector can't know. So does an identify of another user
  than the one held, since the SDK gives them a new anonymous ID too. The SDK replays all of
  these on the next page.

All or nothing, like a batch: a body or a call that can't be read (not a 5-item list, an unknown
method, arguments `calls.parse` refuses, a bad time or messageId) is a 400 listing `{index,
reason}` per bad call, and nothing of the beacon is stored. The events built then go through the
same pipeline as a batch's messages (tracking.py): validation, `sentAt` skew correction, identity
tokens (a `required` source drops the events it would drop from a batch), dedupe and storage.
"""

from __future__ import annotations

import dataclasses
import math
import typing

from visitrail import calls as sdk_calls
from visitrail.events import build
from visitrail.ids import looks_like_id
from visitrail.platform import MemoryStore
from visitrail.session import DEFAULT_TIMEOUT_MIN, SESSION_KEY, Sessions

from .errors import invalid
from .messages import MAX_BATCH_MESSAGES, MAX_ERRORS_LISTED, MAX_MESSAGE_ID_CHARS
from .timestamps import parse_timestamp

__all__ = ["Expanded", "check_body", "expand", "call_count", "TIMEOUT_MS"]

TIMEOUT_MS = DEFAULT_TIMEOUT_MIN * 60_000
MAX_TIMEOUT_MIN = 24 * 60  # as visitrail.client reads data-session-timeout
MAX_USER_ID_CHARS = 256  # what calls.parse allows a userId
MAX_TIME_MS = 253402300800000  # 10000-01-01T00:00:00Z: ISO-8601 years have four digits
GETTERS = ("user.anonymousId", "user.id", "user.traits", "session.id", "consent.state")
CONSENT = ("consent.grant", "consent.deny")
PARSED = (*sdk_calls.EVENT_METHODS, "reset", "setAnonymousId")  # the methods calls.parse reads
METHODS = frozenset((*PARSED, "rotate", "debug", *GETTERS, *CONSENT))
STOPPERS = ("reset", "rotate")
ENVIRONMENT_KEYS = ("locale", "timezone")


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


def call_count(body: typing.Any) -> int:
    """How many calls a beacon holds, for the rate limit, before anything else is read."""
    calls = body.get("calls") if isinstance(body, dict) else None
    return len(calls) if isinstance(calls, list) else 1


def _is_number(value: typing.Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def call_problem(call: typing.Any) -> tuple[str | None, dict[str, typing.Any] | None]:
    """(why the call can't be read, None) or (None, what calls.parse made of its arguments)."""
    if not isinstance(call, list) or len(call) != 5:
        return "a call must be a list [method, args, timeMs, messageId, page]", None
    method, args, at, message_id, page = call
    if not isinstance(method, str) or method not in METHODS:
        return f"unknown method {method!r}", None
    if not isinstance(args, list):
        return "args must be a list", None
    if not _is_number(at) or not 0 <= at < MAX_TIME_MS:
        return "the time must be a number of milliseconds since 1970", None
    if not isinstance(message_id, str) or not message_id or len(message_id) >= MAX_MESSAGE_ID_CHARS:
        return f"messageId must be a non-empty string of fewer than {MAX_MESSAGE_ID_CHARS} characters", None
    if page is not None and not isinstance(page, dict):
        return "page must be an object or null", None
    if method not in PARSED:
        return None, {}
    try:
        fields, _warnings = sdk_calls.parse(method, args)  # warnings: fields dropped, as the SDK drops them
    except sdk_calls.CallError as exc:
        return f"{method}(): {exc}", None
    return None, fields


def session_timeout_ms(value: typing.Any) -> int:
    """The beacon's sessionTimeout (minutes, a number or the tag attribute's text) as the SDK's
    Client reads it: anything unusable means the default."""
    if value is None or isinstance(value, (dict, list)):
        return TIMEOUT_MS
    try:
        minutes = float(value)
    except (TypeError, ValueError, OverflowError):
        return TIMEOUT_MS
    if minutes != minutes or not 1 <= minutes <= MAX_TIMEOUT_MIN:
        return TIMEOUT_MS
    return int(minutes * 60_000)


def _header(body: dict[str, typing.Any]) -> tuple[str, str | None, typing.Any, str | None, dict[str, str], list]:
    """The beacon's fields around its calls, checked: 400 if one is unusable."""
    anonymous_id = body.get("anonymousId")
    if not looks_like_id(anonymous_id):
        raise invalid("anonymousId is required: the visitor ID the page holds (printable, at most 100 characters)")
    user_id = body.get("userId")
    if user_id == "":
        user_id = None
    if user_id is not None and (not isinstance(user_id, str) or len(user_id) > MAX_USER_ID_CHARS):
        raise invalid(f"userId must be null or a string of at most {MAX_USER_ID_CHARS} characters")
    session = body.get("session")
    if session is not None and not isinstance(session, str):
        raise invalid("session must be null or the session record's JSON text, as localStorage holds it")
    sent_at = body.get("sentAt")
    if sent_at is not None and parse_timestamp(sent_at) is None:
        raise invalid("sentAt must be an ISO-8601 date-time")
    environment = body.get("environment")
    if environment is not None and not isinstance(environment, dict):
        raise invalid("environment must be an object")
    kept = {key: value for key, value in (environment or {}).items() if key in ENVIRONMENT_KEYS}
    kept = {key: value for key, value in kept.items() if isinstance(value, str)}
    calls = body.get("calls")
    if not isinstance(calls, list):
        raise invalid("a beacon body needs a 'calls' array")
    if len(calls) > MAX_BATCH_MESSAGES:
        raise invalid(f"beacon has {len(calls)} calls; the limit is {MAX_BATCH_MESSAGES}")
    return anonymous_id, user_id, body.get("identityToken"), session, kept, calls


def _after_last_denial(calls: list[list[typing.Any]]) -> int:
    """The index of the first call made with consent granted for good: after the grant that
    follows the last consent.deny (0 without a deny; the loader only sends a granted beacon)."""
    denied = [index for index, call in enumerate(calls) if call[0] == "consent.deny"]
    if not denied:
        return 0
    grants = [index for index, call in enumerate(calls) if call[0] == "consent.grant" and index > denied[-1]]
    return grants[0] + 1 if grants else len(calls)


def expand(body: typing.Any) -> Expanded:
    """The events a beacon's calls make, or raise 400 (nothing is built then)."""
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    anonymous_id, user_id, token, session, environment, calls = _header(body)
    parsed: list[dict[str, typing.Any] | None] = []
    errors = []
    for index, call in enumerate(calls):
        reason, fields = call_problem(call)
        if reason is not None:
            errors.append({"index": index, "reason": reason})
        parsed.append(fields)
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise invalid(f"call {first['index']}: {first['reason']}{more}", errors[:MAX_ERRORS_LISTED])

    start = _after_last_denial(calls)
    ids: dict[str, typing.Any] = {"anonymousId": anonymous_id, "userId": user_id, "identityToken": token}
    store = MemoryStore({} if session is None else {SESSION_KEY: session})
    sessions = Sessions(None, store, session_timeout_ms(body.get("sessionTimeout")))
    items, indexes = [], []
    for index, (call, fields) in enumerate(zip(calls, parsed, strict=True)):
        method, _args, at, message_id, page = call
        assert fields is not None
        if index < start:
            continue
        if method in STOPPERS:
            break
        if method == "setAnonymousId":
            ids["anonymousId"] = fields["anonymousId"]
            continue
        if method not in sdk_calls.EVENT_METHODS:
            continue  # debug, getters, consent.grant
        if method == "identify":
            new_user = fields["userId"]
            if new_user is not None and ids["userId"] is not None and new_user != ids["userId"]:
                break  # another user: the SDK starts them on a new, random anonymous ID
            if new_user is not None:
                ids["userId"] = new_user
            new_token = fields["options"].get("identityToken")
            if new_token is not None:  # as Identity.identify keeps it
                ids["identityToken"] = new_token or None
        if method == "alias" and not fields.get("previousId"):
            fields["previousId"] = ids["userId"] or ids["anonymousId"]
        t = int(at)
        stamp = sessions.touch(t, ids["anonymousId"])
        items.append(build(method, fields, dict(ids), t, message_id, page, stamp, environment))
        indexes.append(index)
    batch_body: dict[str, typing.Any] = {"batch": items}
    if body.get("sentAt") is not None:
        batch_body["sentAt"] = body["sentAt"]
    return Expanded(batch_body, items, indexes)
