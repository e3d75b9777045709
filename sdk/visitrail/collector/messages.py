"""Validating and normalising Segment messages into storable `Event`s.

Limits and required fields follow Segment's HTTP API docs. A request is all or nothing: if any
message is invalid, `normalise` raises and nothing is stored, with one `{index, reason}` per bad one.

Beyond Segment's rules, what the databases can't hold is refused here, so that it is a 400 and
never a 500: NUL characters (PostgreSQL text can't contain them), lone surrogates (not UTF-8), and
IDs or trait keys too long for a PostgreSQL index entry.

`context.identityToken` (and an alias's `context.previousIdentityToken`) is taken out of every
message here, whatever the source's identity mode: a credential is never stored; trust.py judges it
from the `Normalised` it comes in.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import numbers
import typing
import uuid

from visitrail.core.ids import is_placeholder

from .bots import is_bot, judged_user_agent
from .client_ip import truncated
from .errors import invalid
from .profiles import TRAITS_ONCE, session_id_of
from .storage import Event
from .timestamps import bounded, corrected_timestamp, format_timestamp, parse_timestamp

__all__ = [
    "TYPES", "MAX_MESSAGE_BYTES", "MAX_BATCH_MESSAGES", "MAX_MESSAGE_ID_CHARS", "MAX_ID_CHARS", "Normalised",
    "batch_items", "normalise", "text_problem",
]  # fmt: skip

TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
MAX_MESSAGE_BYTES = 32 * 1024  # per message, single call or in a batch
MAX_BATCH_MESSAGES = 2500
MAX_MESSAGE_ID_CHARS = 100  # messageId must be "fewer than 100 characters"
# userId, anonymousId, previousId and trait keys are indexed; a PostgreSQL B-tree entry holds at
# most ~2,700 bytes, and 512 characters are at most 2,048 bytes of UTF-8.
MAX_ID_CHARS = 512
# A session ID's bytes (UTF-8): room for an Amplitude start time and a whole anonymousId (2,048
# bytes at most), and a write key of up to 500 bytes beside it, under PostgreSQL's 2,704-byte
# index row of the sessions table's key.
MAX_SESSION_ID_BYTES = 2200
MAX_ERRORS_LISTED = 100  # keep a 2,500-message rejection readable
IDENTITY_TOKEN = "identityToken"  # in context: see trust.py
PREVIOUS_IDENTITY_TOKEN = "previousIdentityToken"  # an alias's proof of its previousId (profiles.py, rule 7)

# The field stored in the `event` column: what people filter each type by.
NAME_FIELDS = {"track": "event", "page": "name", "screen": "name"}
OBJECT_FIELDS = ("context", "integrations", "properties", "traits")
TIMESTAMP_FIELDS = ("timestamp", "originalTimestamp", "sentAt")
ID_FIELDS = ("userId", "anonymousId", "previousId", "groupId")


@dataclasses.dataclass(frozen=True)
class Normalised:
    """A message ready to store, and the identity token it carried (already out of `event.body`)."""

    event: Event
    identity_token: typing.Any = dataclasses.field(default=None, repr=False)
    previous_token: typing.Any = dataclasses.field(default=None, repr=False)


def batch_items(body: typing.Any, is_batch: bool) -> list[typing.Any]:
    """The messages of a request body: its `batch` list, or the body itself for a single call."""
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    if not is_batch:
        return [body]
    items = body.get("batch")
    if not isinstance(items, list):
        raise invalid("a batch body needs a 'batch' array")
    if len(items) > MAX_BATCH_MESSAGES:
        raise invalid(f"batch has {len(items)} messages; the limit is {MAX_BATCH_MESSAGES} messages per batch")
    return items


def present(value: typing.Any) -> bool:
    return value is not None and value != ""


def is_id(value: typing.Any) -> bool:
    # Segment's clients accept strings and numbers as ids; bool is a Number subclass in Python.
    return isinstance(value, (str, numbers.Number)) and not isinstance(value, bool)


def has_nul(value: typing.Any, dumped: str) -> bool:
    """Does any string of `value` (keys too) hold a NUL? `dumped` is `value` as JSON: it spells a
    NUL `\\u0000`, so only a value whose JSON has that text needs walking."""
    if "\\u0000" not in dumped:
        return False
    stack = [value]
    while stack:  # iterative: parse_json bounds the depth, but recursion is not needed
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


NUL_REASON = "contains a NUL character (\\u0000), which can't be stored"
SURROGATE_REASON = "contains invalid Unicode (a lone surrogate)"


def text_problem(value: typing.Any) -> str | None:
    """Why a parsed JSON value can't be stored as text, or None: a NUL or a lone surrogate anywhere."""
    dumped = json.dumps(value, ensure_ascii=False)
    try:
        dumped.encode()
    except UnicodeEncodeError:  # JSON's "\ud800" escape decodes to a lone surrogate, which UTF-8 can't hold
        return SURROGATE_REASON
    return NUL_REASON if has_nul(value, dumped) else None


def problem(message: typing.Any, default_type: str | None, blocked: frozenset[str] = frozenset()) -> str | None:
    """Why `message` can't be accepted, or None if it can."""
    if not isinstance(message, dict):
        return "message must be a JSON object"
    dumped = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    try:
        size = len(dumped.encode())
    except UnicodeEncodeError:
        return f"message {SURROGATE_REASON}"
    if size > MAX_MESSAGE_BYTES:
        return f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES // 1024} KB per message"
    if has_nul(message, dumped):
        return f"message {NUL_REASON}"
    kind = message.get("type") or default_type
    if kind is None:
        return f"type is required: one of {', '.join(sorted(TYPES))}"
    if not isinstance(kind, str) or kind not in TYPES:
        return f"unknown type {kind!r}"
    message_id = message.get("messageId")
    if message_id is not None and not isinstance(message_id, str):
        return "messageId must be a string"
    if message_id is not None and len(message_id) >= MAX_MESSAGE_ID_CHARS:
        return f"messageId must be fewer than {MAX_MESSAGE_ID_CHARS} characters"
    for field in ID_FIELDS:
        if present(message.get(field)) and not is_id(message[field]):
            return f"{field} must be a string or a number"
        if present(message.get(field)) and len(str(message[field])) > MAX_ID_CHARS:
            return f"{field} must be at most {MAX_ID_CHARS} characters"
        if present(message.get(field)) and is_placeholder(message[field]):
            # The SDK's own rule (core/ids.py): a profile keyed on "undefined" would join everyone.
            return f"{field} {json.dumps(str(message[field]))} is a placeholder, not an ID"
        if blocked and present(message.get(field)) and str(message[field]).strip().lower() in blocked:
            return f"{field} {json.dumps(str(message[field]))} is blocked on this collector (--blocked-id)"
    if kind == "alias":
        if not (present(message.get("userId")) and present(message.get("previousId"))):
            return "alias needs userId and previousId"
    elif not (present(message.get("userId")) or present(message.get("anonymousId"))):
        return "userId or anonymousId is required"
    if kind == "track" and not (isinstance(message.get("event"), str) and message["event"]):
        return "track needs an 'event' string"
    if kind == "group" and not present(message.get("groupId")):
        return "group needs a groupId"
    if kind in ("page", "screen") and message.get("name") is not None and not isinstance(message["name"], str):
        return "name must be a string"
    for field in OBJECT_FIELDS:
        if message.get(field) is not None and not isinstance(message[field], dict):
            return f"{field} must be an object"
    if kind == "identify":
        reason = traits_once_problem(message.get("context"))
        if reason is not None:
            return reason
        if any(len(key) > MAX_ID_CHARS for key in message.get("traits") or {}):
            return f"trait names must be at most {MAX_ID_CHARS} characters"
    for field in TIMESTAMP_FIELDS:
        if message.get(field) is not None and parse_timestamp(message[field]) is None:
            return f"{field} must be an ISO-8601 date-time"
    return None


def session_problem(session_id: str | None) -> str | None:
    """Why an event's session ID (profiles.session_id_of, after the batch's context is merged in)
    can't key a sessions row, or None. PostgreSQL's index refuses a key over 2,704 bytes: that was
    a 500 that lost the whole batch, and SQLite would have taken it, so both backends refuse here."""
    if session_id is not None and len(session_id.encode()) > MAX_SESSION_ID_BYTES:
        return f"the session ID (context.sessionId) must be at most {MAX_SESSION_ID_BYTES} bytes"
    return None


def traits_once_problem(context: dict[str, typing.Any] | None) -> str | None:
    """Why a context's set-once traits (profiles.py, rule 5) can't be taken, or None: bounded like
    an identify's traits."""
    once = (context or {}).get(TRAITS_ONCE)
    if once is not None and not isinstance(once, dict):
        return f"context.{TRAITS_ONCE} must be an object"
    if any(len(key) > MAX_ID_CHARS for key in once or {}):
        return f"trait names must be at most {MAX_ID_CHARS} characters (context.{TRAITS_ONCE})"
    return None


def batch_defaults(body: dict[str, typing.Any], is_batch: bool) -> dict[str, typing.Any]:
    """Batch-level `context`, `integrations` and `sentAt` that apply to every message."""
    defaults: dict[str, typing.Any] = {}
    for field in ("context", "integrations"):
        value = body.get(field) if is_batch else None
        if value is not None and not isinstance(value, dict):
            raise invalid(f"batch-level {field} must be an object")
        text = text_problem(value)
        if text is not None:
            raise invalid(f"batch-level {field} {text}")
        # Merged into every message's context: an identify without context.traitsOnce of its own takes these.
        once = traits_once_problem(value) if field == "context" else None
        if once is not None:
            raise invalid(f"batch-level {once}")
        defaults[field] = value or {}
    sent_at = body.get("sentAt")
    if is_batch and sent_at is not None and parse_timestamp(sent_at) is None:
        raise invalid("batch-level sentAt must be an ISO-8601 date-time")
    defaults["sentAt"] = sent_at if is_batch else None
    return defaults


def normalise(
    body: dict[str, typing.Any],
    items: list[typing.Any],
    *,
    is_batch: bool,
    default_type: str | None,
    write_key: str,
    received_at: datetime.datetime,
    ip: str | None = None,
    indexes: typing.Sequence[int] | None = None,
    noun: str = "message",
    store_ip: bool = True,
    blocked: frozenset[str] = frozenset(),
    user_agent: str | None = None,
    origin: str | None = None,
) -> list[Normalised]:
    """Every item as a `Normalised`, in order, or raise 400 listing the bad ones. Errors name an
    item by `indexes[i]` when given (raw_calls.py: the call an event was built from) and `noun`.
    `user_agent` and `origin`: the request's headers, for bots.py."""
    defaults = batch_defaults(body, is_batch)
    out, errors = [], []
    request = (user_agent, origin)
    for position, item in enumerate(items):
        reason = problem(item, default_type, blocked)
        if reason is None:
            normalised = _event(item, defaults, default_type, write_key, received_at, ip, store_ip, request)
            reason = session_problem(normalised.event.session_id)
            out.append(normalised)
        if reason is not None:
            errors.append({"index": position if indexes is None else indexes[position], "reason": reason})
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise invalid(f"{noun} {first['index']}: {first['reason']}{more}", errors[:MAX_ERRORS_LISTED])
    return out


def _device_times(
    message: dict[str, typing.Any], defaults: dict[str, typing.Any]
) -> tuple[datetime.datetime | None, datetime.datetime | None, datetime.datetime | None]:
    timestamp = parse_timestamp(message.get("timestamp"))
    original = parse_timestamp(message.get("originalTimestamp")) or timestamp
    # Python, Node and browser batching send sentAt once per batch; browser standard mode per event.
    sent_at = parse_timestamp(message.get("sentAt")) or parse_timestamp(defaults["sentAt"])
    return timestamp, original, sent_at


def _event(
    message: dict[str, typing.Any],
    defaults: dict[str, typing.Any],
    default_type: str | None,
    write_key: str,
    received_at: datetime.datetime,
    ip: str | None,
    store_ip: bool = True,
    request: tuple[str | None, str | None] = (None, None),
) -> Normalised:
    timestamp, original, sent_at = _device_times(message, defaults)
    stored = {key: value for key, value in message.items() if key != "writeKey"}  # the key lives in its column
    stored["type"] = message.get("type") or default_type
    for field in ("context", "integrations"):
        # The docs say batch-level values "will be merged with" each message's; the message wins.
        stored[field] = {**defaults[field], **(message.get(field) or {})}
    if "ip" in stored["context"]:
        # A client's own claim of an address (server-side libraries send the user's) follows the
        # rule of the connection's: truncated, or not kept at all with --no-ip (client_ip.py).
        claimed = stored["context"].pop("ip")
        kept = truncated(claimed) if store_ip and isinstance(claimed, str) else None
        if kept is not None:
            stored["context"]["ip"] = kept
    token = stored["context"].pop(IDENTITY_TOKEN, None)  # credentials: judged, never stored
    previous_token = stored["context"].pop(PREVIOUS_IDENTITY_TOKEN, None)
    stored["messageId"] = message.get("messageId") or f"srv-{uuid.uuid4()}"
    try:
        happened = bounded(received_at, corrected_timestamp(received_at, timestamp, original, sent_at))
    except OverflowError:  # sentAt in year 9999, timestamp in year 1: as far outside the window as can be
        happened = received_at
    stored["timestamp"] = format_timestamp(happened)
    stored["receivedAt"] = format_timestamp(received_at)
    for field, value in (("originalTimestamp", original), ("sentAt", sent_at)):
        if value is None:
            stored.pop(field, None)
        else:
            stored[field] = format_timestamp(value)

    def text(field: str) -> str | None:
        return str(message[field]) if present(message.get(field)) else None

    event = Event(
        write_key=write_key,
        message_id=stored["messageId"],
        type=stored["type"],
        anonymous_id=text("anonymousId"),
        user_id=text("userId"),
        event=text(NAME_FIELDS[stored["type"]]) if stored["type"] in NAME_FIELDS else None,
        timestamp=stored["timestamp"],
        original_timestamp=stored.get("originalTimestamp"),
        sent_at=stored.get("sentAt"),
        received_at=stored["receivedAt"],
        body=json.dumps(stored, separators=(",", ":"), ensure_ascii=False),
        session_id=session_id_of(stored),
        ip=ip,
        bot=is_bot(judged_user_agent(stored["context"], *request), stored["context"].get("automation") is True),
    )
    return Normalised(event, token, previous_token)
