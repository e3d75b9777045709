"""Identity tokens: proof, signed by the site's server, that the browser's user is who it says.

The site's backend, which knows who is signed in, issues a short-lived JWT for the user and hands
it to the page; the browser SDK sends it as `context.identityToken` on every event of that user
(`analytics.identify(userId, traits, {identityToken})`). The collector checks it against the source's
`identitySecret` (policy: trust.py).

    {"alg": "HS256"} . {"uid": "<userId>", "kind": "USER", "aud": "<write key>", "iat": <issued>, "exp": <expires>}

`aud` names the source (its write key, or a list of them) the token is for: two sources sharing a
secret don't accept each other's tokens. A token lives at most MAX_LIFETIME_SECONDS (`exp - iat`):
one with a 100-year `exp` is a credential that can't be taken back.

PyJWT does all of the token handling (decoding, the signature, `exp`); what it reports is turned
into one exception per reason, each with a message fit for an SDK's console. HS256 only: a token
that names another algorithm (`none` included) has no signature this collector trusts. `exp` and
`iat` are checked against this machine's clock, with LEEWAY_SECONDS for the issuer's.
"""

from __future__ import annotations

import time
import typing

import jwt

__all__ = [
    "ALGORITHM", "KIND", "MIN_SECRET_BYTES", "IdentityTokenError", "TokenExpired", "TokenSignatureInvalid",
    "TokenForAnotherUser", "TokenKindInvalid", "TokenMalformed", "TokenNotYetValid", "TokenForAnotherSource",
    "TokenLivesTooLong", "MAX_LIFETIME_SECONDS", "check_secret",
    "issue_identity_token", "verify_identity_token",
]  # fmt: skip

ALGORITHM = "HS256"
KIND = "USER"
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash; PyJWT warns on shorter ones.
MIN_SECRET_BYTES = 32
MAX_TOKEN_CHARS = 4096  # ours are ~200; anything much longer is not one of ours
LEEWAY_SECONDS = 30  # the issuing server's clock and ours may differ a little
MAX_LIFETIME_SECONDS = 7 * 24 * 3600  # a page refreshes its token on every load; a week covers a tab left open


class IdentityTokenError(Exception):
    """A token that proves nothing. `str(exc)` is the message for the client."""

    message = "identity token is invalid"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


class TokenExpired(IdentityTokenError):
    message = "identity token expired"


class TokenSignatureInvalid(IdentityTokenError):
    message = "identity token signature is invalid"


class TokenForAnotherUser(IdentityTokenError):
    message = "identity token is for another user"


class TokenKindInvalid(IdentityTokenError):
    message = "identity token kind must be USER"


class TokenMalformed(IdentityTokenError):
    message = "identity token is malformed"


class TokenForAnotherSource(IdentityTokenError):
    message = "identity token is for another source (its aud is not this write key)"


class TokenLivesTooLong(IdentityTokenError):
    message = "identity token lives too long (exp - iat is over 7 days)"


class TokenNotYetValid(IdentityTokenError):
    message = "identity token is not valid yet (issued in the future: is the issuing server's clock right?)"


def check_secret(secret: str) -> None:
    """Raise ValueError unless `secret` is usable as an HS256 key."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(
            f"an identity secret must be at least {MIN_SECRET_BYTES} bytes (HS256 needs a key as long as its "
            "hash, RFC 7518 section 3.2); e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )


def issue_identity_token(
    secret: str, uid: str, ttl_seconds: int, *, audience: str | list[str], now: float | None = None
) -> str:
    """A token saying "this browser's user is `uid`", for the source(s) whose write key is
    `audience`, valid for `ttl_seconds` (at most MAX_LIFETIME_SECONDS) from `now`."""
    check_secret(secret)
    if not isinstance(uid, str) or not uid:
        raise ValueError("uid must be a non-empty string")
    if not audience or not all(
        isinstance(key, str) and key for key in ([audience] if isinstance(audience, str) else audience)
    ):
        raise ValueError("audience must be the write key (or a list of the write keys) the token is for")
    if ttl_seconds > MAX_LIFETIME_SECONDS:
        raise ValueError(f"a token lives at most {MAX_LIFETIME_SECONDS} seconds (7 days)")
    issued = int(time.time() if now is None else now)
    claims = {"uid": uid, "kind": KIND, "aud": audience, "iat": issued, "exp": issued + int(ttl_seconds)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_identity_token(secret: str, token: typing.Any, user_id: typing.Any, audience: str) -> dict[str, typing.Any]:
    """The token's claims if it is ours, for `audience` (the source's write key), unexpired, not too
    long-lived, of kind USER and for `user_id`; else raise an `IdentityTokenError` subclass. A
    numeric userId matches its text (ids are stored as text)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenMalformed()
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "uid", "kind", "aud"]},
        )
    # PyJWT checks the signature before any claim, so a forged token never reads as "expired".
    except jwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except jwt.ImmatureSignatureError:  # issued "later" than now: the issuer's clock is ahead of ours
        raise TokenNotYetValid() from None
    except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
        raise TokenSignatureInvalid() from None
    except jwt.InvalidAudienceError:
        raise TokenForAnotherSource() from None
    except jwt.InvalidTokenError:  # DecodeError, a missing or mistyped claim, ...
        raise TokenMalformed() from None
    if claims.get("kind") != KIND:
        raise TokenKindInvalid()
    if claims["exp"] - claims["iat"] > MAX_LIFETIME_SECONDS:
        raise TokenLivesTooLong()
    uid = claims.get("uid")
    if not isinstance(uid, str) or not uid:
        raise TokenMalformed()
    if user_id is None or isinstance(user_id, bool) or uid != str(user_id):
        raise TokenForAnotherUser()
    return claims  # PyJWT types jwt.decode's claims as dict[str, Any]
