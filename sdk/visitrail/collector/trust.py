"""Signed identity: what a source's `identity` mode does with the identity tokens of its events.

A userId sent from a browser is only a claim: any page (or curl) can send `identify("alice")`.
A source can ask for proof: the site's server issues a token for its signed-in user
(`visitrail token`, or tokens.issue_identity_token), and the browser SDK sends it as
`context.identityToken` on every event of that user. messages.py takes the token out of the
message before anything is stored, in every mode: a credential is never stored. Then, per mode:

- `open` (the default): tokens are ignored. Every event is stored, none is verified.
- `verified`: an event whose token is valid for its userId is verified, and marks its profile
  verified. Once a profile is verified, only verified events change its traits (profiles.py,
  rule 6). An event whose token is invalid (expired, forged, another user's, ...) is still
  stored, as unverified, and answered 200: failing it would cost the user their events (the SDK
  drops what a collector refuses), while storing it unverified gives a forger nothing, since its
  traits can't touch a verified profile. The answer lists each such event, for debugging:
      200 {"success": true, "unverified": [{"index": 3, "reason": "identity token expired"}]}
  A token on an event without a userId proves nothing and is ignored; an event with a userId and
  no token is simply unverified.
- `required`: every event carrying a userId must have a valid token for it; events without a
  userId (anonymous browsing) need none. What lacks a valid token is not stored:
  - a single call (`/v1/identify`, `/v1/track`, ...) is answered
        401 {"code": "identity_token", "error": "<reason>", "message": "<reason>"}
    (`error` is what our browser SDK reads, `message` what Segment's clients read);
  - a batch (`/v1/batch`, or a beacon's calls, raw_calls.py) stores every other event and answers
        200 {"success": true, "rejected": [{"index": 0, "reason": "identity token expired"}]}
    This deviates on purpose from "a batch is all or nothing", which still holds for invalid
    messages (400, nothing stored): an identity failure is not a malformed request that the
    client must fix and resend, and refusing the batch would make the SDK drop the anonymous
    events around the failing identify with it.
Reasons are tokens.py's messages, plus "identity token is missing".
"""

from __future__ import annotations

import dataclasses
import json
import typing

from .config import Source
from .errors import ApiError
from .messages import Normalised
from .storage import Event
from .storage.erasure import ERASED
from .tokens import IdentityTokenError, verify_identity_token

__all__ = ["MISSING", "Screened", "screen"]

MISSING = "identity token is missing"


@dataclasses.dataclass
class Screened:
    events: list[Event]  # to store, `verified` set
    rejected: list[dict[str, typing.Any]]  # {index, reason}: `required` mode, not stored
    unverified: list[dict[str, typing.Any]]  # {index, reason}: `verified` mode, invalid token, stored
    indexes: list[int] = dataclasses.field(default_factory=list)  # each event's index in the answer

    def refuse(self, refused: dict[int, str]) -> None:
        """Add what storage refused (by position in `events`) to `rejected`, in index order."""
        self.rejected += [{"index": self.indexes[position], "reason": reason} for position, reason in refused.items()]
        self.rejected.sort(key=lambda entry: entry["index"])

    def answer(self) -> dict[str, typing.Any]:
        """The 200 answer's body."""
        body: dict[str, typing.Any] = {"success": True}
        if self.rejected:
            body["rejected"] = self.rejected
        if self.unverified:
            body["unverified"] = self.unverified
        return body

    def single_call_error(self) -> ApiError | None:
        """For a single call: the 401 its rejection is answered with, if it was rejected."""
        if not self.rejected:
            return None
        reason = self.rejected[0]["reason"]
        return ApiError(401, "identity_token", reason, extra={"error": reason})

    def single_call_refusal(self, refused: dict[int, str]) -> ApiError | None:
        """For a single call that storage refused: 410 for an erased ID, 403 for an alias without
        the proof it needs (profiles.py, rule 7)."""
        if not refused:
            return None
        reason = next(iter(refused.values()))
        status, code = (410, "erased") if reason == ERASED else (403, "identity_proof")
        return ApiError(status, code, reason, extra={"error": reason})


def _check(source: Source, item: Normalised) -> str | None:
    """Why the event's token doesn't prove its userId, or None if it does."""
    if item.identity_token is None:
        return MISSING
    try:
        verify_identity_token(source.identity_secret, item.identity_token, item.event.user_id, source.write_key)
    except IdentityTokenError as exc:
        return str(exc)
    return None


def _previous_problem(source: Source, item: Normalised) -> tuple[bool, str | None]:
    """An alias's proof of its previousId (profiles.py, rule 7): (proven, why a token given fails)."""
    if source.identity == "open" or item.event.type != "alias" or item.previous_token is None:
        return False, None
    previous_id = json.loads(item.event.body).get("previousId")
    try:
        verify_identity_token(source.identity_secret, item.previous_token, previous_id, source.write_key)
    except IdentityTokenError as exc:
        return False, f"previous {exc}"
    return True, None


def screen(source: Source, items: typing.Sequence[Normalised], indexes: typing.Sequence[int] | None = None) -> Screened:
    """Apply `source`'s identity mode to a request's normalised messages (in order). `indexes`
    name each item in the answer (a beacon's call indexes), else its position. `positions` of the
    result: each stored event's position in `items`."""
    result = Screened([], [], [])
    for position, item in enumerate(items):
        index = position if indexes is None else indexes[position]
        event = item.event
        previous_verified, previous_reason = _previous_problem(source, item)
        if previous_verified:
            event = dataclasses.replace(event, previous_verified=True)
        if source.identity == "open" or event.user_id is None:
            reason = None
        elif source.identity == "verified" and item.identity_token is None:
            reason = None  # unverified, and nothing to report
        else:
            reason = _check(source, item)
            if reason is None:
                event = dataclasses.replace(event, verified=True)
        reason = reason or previous_reason
        if reason is not None and source.identity == "required":
            result.rejected.append({"index": index, "reason": reason})
            continue
        if reason is not None:
            result.unverified.append({"index": index, "reason": reason})
        result.events.append(event)
        result.indexes.append(index)
    return result
