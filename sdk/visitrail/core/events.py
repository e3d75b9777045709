"""Segment-shaped messages: the one definition of what an event is.

The browser client builds every event here, and so does the collector when it turns the loader's
raw beacon calls into events, so the two can never disagree on the shape.
"""

from .. import __version__
from .ids import iso_utc

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any

LIBRARY = {"name": "visitrail", "version": __version__}
PAGE_KEYS = ("path", "url", "title", "referrer", "search")


def _merge(base: "dict[str, Any]", extra: "dict[str, Any] | None") -> "dict[str, Any]":
    out = dict(base)
    for k, v in (extra or {}).items():
        out[k] = v
    return out


def build(
    kind: "str",
    fields: "dict[str, Any]",
    ids: "dict[str, Any]",
    timestamp_ms: "int",
    message_id: "str",
    page: "dict[str, Any] | None" = None,
    session: "dict[str, Any] | None" = None,
    environment: "dict[str, Any] | None" = None,
) -> "dict[str, Any]":
    """A message of `kind` ("identify", "track", "page", "group", "alias").

    fields:  what calls.parse made of the call's arguments (plus "traits" for identify: the merged
             traits to send);
    ids:     {"anonymousId", "userId", "identityToken"?} at call time;
    page:    {path, url, title, referrer, search} at call time;
    session: {"id", "startedAt", "sequence"} at call time, or None.
    """
    options = fields.get("options") or {}
    context: "dict[str, Any]" = {"library": dict(LIBRARY)}
    for k, v in (environment or {}).items():
        if v is not None:
            context[k] = v
    if page:
        context["page"] = dict(page)
    integrations: "dict[str, Any]" = {}
    if session:
        context["sessionId"] = session["id"]
        context["sessionSequence"] = session["sequence"]
        # Segment's Amplitude (Actions) destination reads the session here, as start time in ms.
        integrations["Actions Amplitude"] = {"session_id": session["startedAt"]}
    if ids.get("identityToken"):
        context["identityToken"] = ids["identityToken"]
    msg: "dict[str, Any]" = {
        "type": kind,
        "messageId": message_id,
        "timestamp": iso_utc(timestamp_ms),
        "anonymousId": ids.get("anonymousId"),
        "context": _merge(context, options.get("context")),
        "integrations": _merge(integrations, options.get("integrations")),
    }
    user_id = ids.get("userId")
    if user_id:
        msg["userId"] = user_id
    if kind == "identify":
        msg["traits"] = fields.get("traits") or {}
    elif kind == "track":
        msg["event"] = fields["event"]
        msg["properties"] = fields.get("properties") or {}
    elif kind == "page":
        # As analytics.js does: the page's own fields are the default properties of a page call.
        props: "dict[str, Any]" = {}
        for k in PAGE_KEYS:
            if page and page.get(k) is not None:
                props[k] = page[k]
        if fields.get("name"):
            msg["name"] = fields["name"]
            props["name"] = fields["name"]
        msg["properties"] = _merge(props, fields.get("properties"))
    elif kind == "group":
        msg["groupId"] = fields["groupId"]
        msg["traits"] = fields.get("traits") or {}
    elif kind == "alias":
        msg["userId"] = fields["userId"]
        msg["previousId"] = fields["previousId"]
    else:
        raise ValueError("unknown event type: " + str(kind))
    return msg
