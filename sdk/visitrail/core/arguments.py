"""What a public call's arguments mean: the page's (JS-style, overloaded) arguments in, checked
fields out.

Used by recorder.py, so by the client for live and replayed calls and by the collector for the raw
calls of the loader's last-chance beacon: one reading of `identify(...)` everywhere.

Rules (documented in README.md, "Bad input"):
- a call whose identity is unusable (a userId, groupId or event name that is not a non-empty
  string, or an ID that is a placeholder such as "undefined" or "null": ids.is_placeholder) is
  dropped: CallError;
- a field of the wrong kind (traits or properties that are not a plain object) is dropped and the
  call goes on: the reason is returned as a warning;
- values JSON cannot carry are dropped from traits and properties, with a warning;
- identify's options.setOnce (set-once traits: identity.py) is read like traits.
"""

import json

from .ids import is_placeholder, looks_like_id

MAX_DEPTH = 32
MAX_ID_CHARS = 256  # a userId, groupId or previousId
MAX_ANONYMOUS_ID_CHARS = 100
# The loader serialises a call's JS arguments to JSON; what JSON cannot carry (a function, a DOM
# node, a cycle, a BigInt) arrives as {UNSERIALISABLE: "function"} so it is reported here, once.
UNSERIALISABLE = "__unserialisable__"

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, TypeGuard


class CallError(Exception):
    """The call cannot be made; its message says why, for one console error."""


def _is_obj(v: "object") -> "TypeGuard[dict[str, Any]]":
    return isinstance(v, dict)


def clean(value: "Any", where: "str", warnings: "list[str]", depth: "int" = 0) -> "Any":
    """A JSON-safe copy of value; what cannot be carried is dropped and named in warnings."""
    if depth > MAX_DEPTH:
        warnings.append(where + " is nested too deeply (or cyclic) and was dropped")
        return None
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            warnings.append(where + " is not a finite number and was dropped")
            return None
        return value
    if isinstance(value, dict):
        if len(value) == 1 and UNSERIALISABLE in value:
            warnings.append(where + " is not serialisable (" + str(value[UNSERIALISABLE]) + ") and was dropped")
            return None
        out: "dict[str, Any]" = {}
        for k, v in value.items():
            if not isinstance(k, str):
                k = str(k)
            c = clean(v, where + "." + k, warnings, depth + 1)
            if c is not None or v is None:
                out[k] = c
        return out
    if isinstance(value, (list, tuple)):
        items: "list[Any]" = []
        for i, v in enumerate(value):
            c = clean(v, where + "[" + str(i) + "]", warnings, depth + 1)
            if c is not None or v is None:
                items.append(c)
        return items
    warnings.append(where + " is not serialisable (" + type(value).__name__ + ") and was dropped")
    return None


def _object(value: "Any", name: "str", warnings: "list[str]") -> "dict[str, Any]":
    if value is None:
        return {}
    if not _is_obj(value):
        warnings.append(name + " must be an object, got " + _kind(value) + "; it was dropped")
        return {}
    cleaned: "dict[str, Any]" = clean(value, name, warnings)  # an object cleans to an object
    return cleaned


def _kind(v: "object") -> "str":
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if v is None:
        return "null"
    return type(v).__name__


def _id(value: "object", name: "str", required: "bool") -> "str | None":
    """A user/group ID: a non-empty string; '' and None mean absent."""
    if value is None or value == "":
        if required:
            raise CallError(name + " is required")
        return None
    if not isinstance(value, str):
        raise CallError(name + " must be a string, got " + _kind(value))
    if len(value) > MAX_ID_CHARS:
        raise CallError(name + " is longer than " + str(MAX_ID_CHARS) + " characters")
    if is_placeholder(value):
        raise CallError(name + " " + json.dumps(value) + " is a placeholder, not an ID")
    return value


def _options(value: "Any", warnings: "list[str]") -> "dict[str, Any]":
    opts = _object(value, "options", warnings)
    out: "dict[str, Any]" = {}
    if _is_obj(opts.get("context")):
        out["context"] = opts["context"]
    if _is_obj(opts.get("integrations")):
        out["integrations"] = opts["integrations"]
    for key in ("identityToken", "keepAnonymousId", "previousId"):
        if key in opts:
            out[key] = opts[key]
    once = _object(opts.get("setOnce"), "setOnce", warnings)
    if once:
        out["setOnce"] = once
    return out


def _arg(args: "list[Any]", i: "int") -> "Any":
    return args[i] if len(args) > i else None


def parse(method: "str", args: "list[Any] | tuple[Any, ...] | None") -> "tuple[dict[str, Any], list[str]]":
    """(fields, warnings) for a call; raises CallError when the call must be dropped."""
    warnings: "list[str]" = []
    args = list(args or [])
    if method == "identify":
        # identify(userId, traits?, options?) or identify(traits, options?)
        if _is_obj(_arg(args, 0)):
            args = [None] + args
        user_id = _id(args[0] if args else None, "userId", False)
        traits = _object(_arg(args, 1), "traits", warnings)
        opts = _options(_arg(args, 2), warnings)
        if user_id is None and not traits and not opts.get("setOnce"):
            raise CallError("needs a userId (a non-empty string), traits or setOnce")
        return {"userId": user_id, "traits": traits, "options": opts}, warnings
    if method == "track":
        event = _arg(args, 0)
        if not isinstance(event, str) or not event:
            raise CallError("the event name must be a non-empty string, got " + _kind(event))
        return {
            "event": event,
            "properties": _object(_arg(args, 1), "properties", warnings),
            "options": _options(_arg(args, 2), warnings),
        }, warnings
    if method == "page":
        # page(name?, properties?, options?) or page(properties, options?)
        if _is_obj(_arg(args, 0)):
            args = [None] + args
        name = _arg(args, 0)
        if name is not None and not isinstance(name, str):
            warnings.append("name must be a string, got " + _kind(name) + "; it was dropped")
            name = None
        return {
            "name": name or None,
            "properties": _object(_arg(args, 1), "properties", warnings),
            "options": _options(_arg(args, 2), warnings),
        }, warnings
    if method == "group":
        group_id = _id(_arg(args, 0), "groupId", True)
        return {
            "groupId": group_id,
            "traits": _object(_arg(args, 1), "traits", warnings),
            "options": _options(_arg(args, 2), warnings),
        }, warnings
    if method == "alias":
        user_id = _id(_arg(args, 0), "userId", True)
        prev = _arg(args, 1)
        if _is_obj(prev):
            args = [args[0], None] + args[1:]
            prev = None
        prev = _id(prev, "previousId", False)
        return {"userId": user_id, "previousId": prev, "options": _options(_arg(args, 2), warnings)}, warnings
    if method == "reset":
        return {"options": _options(_arg(args, 0), warnings)}, warnings
    if method == "setAnonymousId":
        value = _arg(args, 0)
        # What the SDK would keep on reading it back (ids.looks_like_id), and no placeholder.
        if not looks_like_id(value) or is_placeholder(value):
            raise CallError(
                "the anonymous ID must be printable text of at most " + str(MAX_ANONYMOUS_ID_CHARS)
                + " characters, not a placeholder"
            )  # fmt: skip
        return {"anonymousId": value}, warnings
    raise CallError("unknown method")


EVENT_METHODS = ("identify", "track", "page", "group", "alias")
