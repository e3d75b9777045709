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
             traits to send; its options.setOnce goes as context.traitsOnce);
    ids:     {"anonymousId", "userId", "identityToken"?} at call time;
    page:    {path, url, title, referrer, search} at call time;
    session: {"id", "startedAt", "sequence", "entry"?, "campaign"?} at call time (sessions.py), or None;
    environment: {locale, timezone, automation?}: automation (navigator.webdriver) only when True.
    """
    options = fields.get("options") or {}
    context: "dict[str, Any]" = {"library": dict(LIBRARY)}
    for k, v in (environment or {}).items():
        if k == "automation":
            if v is True:  # navigator.webdriver: a hint for the collector, which decides; absent when false
                context["automation"] = True
        elif v is not None:
            context[k] = v
    if page:
        context["page"] = dict(page)
    integrations: "dict[str, Any]" = {}
    if session:
        context["sessionId"] = session["id"]
        context["sessionSequence"] = session["sequence"]
        # The session's attribution, on every event of it (sessions.py keeps it in the record): where
        # it began, and Segment's context.campaign of that page (utm_* and click IDs, attribution.py).
        if session.get("entry"):
            context["sessionEntry"] = dict(session["entry"])
        if session.get("campaign"):
            context["campaign"] = dict(session["campaign"])
        # Segment's Amplitude (Actions) destination reads the session here, as start time in ms.
        integrations["Actions Amplitude"] = {"session_id": session["startedAt"]}
    if ids.get("identityToken"):
        context["identityToken"] = ids["identityToken"]
    if kind == "identify" and options.get("setOnce"):
        context["traitsOnce"] = dict(options["setOnce"])  # the call's own: the collector keeps the earliest
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
