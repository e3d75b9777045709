"""Identity tokens (tokens.py): issued by the helper or the CLI, checked with one message per reason."""

from __future__ import annotations

import time
import typing

import jwt
import pytest

from visitrail.collector.cli import main
from visitrail.collector.tokens import (
    IdentityTokenError,
    TokenExpired,
    TokenForAnotherSource,
    TokenForAnotherUser,
    TokenKindInvalid,
    TokenLivesTooLong,
    TokenMalformed,
    TokenNotYetValid,
    TokenSignatureInvalid,
    issue_identity_token,
    verify_identity_token,
)

SECRET = "identity-secret-for-tests-0123456789"
OTHER_SECRET = "another-secret-of-another-site-000000"
KEY = "wk_tokens"


def claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    return {"uid": "u1", "kind": "USER", "aud": KEY, "iat": now, "exp": now + 600, **changes}


def test_issued_token_round_trips() -> None:
    token = issue_identity_token(SECRET, "u1", 3600, audience=KEY)
    found = verify_identity_token(SECRET, token, "u1", KEY)
    assert found["uid"] == "u1" and found["kind"] == "USER" and found["exp"] - found["iat"] == 3600
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_a_numeric_user_id_matches_its_text() -> None:
    assert verify_identity_token(SECRET, issue_identity_token(SECRET, "42", 60, audience=KEY), 42, KEY)["uid"] == "42"


@pytest.mark.parametrize(
    "token, user_id, error, message",
    [
        (lambda: issue_identity_token(SECRET, "u1", 3600, now=time.time() - 7200, audience=KEY), "u1", TokenExpired,
         "identity token expired"),
        (lambda: issue_identity_token(OTHER_SECRET, "u1", 3600, audience=KEY), "u1", TokenSignatureInvalid,
         "identity token signature is invalid"),
        (lambda: issue_identity_token(SECRET, "u2", 3600, audience=KEY), "u1", TokenForAnotherUser,
         "identity token is for another user"),
        (lambda: issue_identity_token(SECRET, "u1", 3600, audience=KEY), None, TokenForAnotherUser,
         "identity token is for another user"),
        (lambda: jwt.encode(claims(kind="ADMIN"), SECRET, algorithm="HS256"), "u1", TokenKindInvalid,
         "identity token kind must be USER"),
        (lambda: "not-a-jwt", "u1", TokenMalformed, "identity token is malformed"),
        (lambda: 12345, "u1", TokenMalformed, "identity token is malformed"),
        (lambda: "x" * 5000, "u1", TokenMalformed, "identity token is malformed"),
        (lambda: jwt.encode({"uid": "u1", "kind": "USER"}, SECRET, algorithm="HS256"), "u1", TokenMalformed,
         "identity token is malformed"),  # no exp, no iat
        (lambda: jwt.encode(claims(uid=7), SECRET, algorithm="HS256"), "7", TokenMalformed,
         "identity token is malformed"),
        (lambda: jwt.encode(claims(iat="today"), SECRET, algorithm="HS256"), "u1", TokenMalformed,
         "identity token is malformed"),
        (lambda: issue_identity_token(SECRET, "u1", 60, now=time.time() + 600, audience=KEY), "u1", TokenNotYetValid,
         "identity token is not valid yet (issued in the future: is the issuing server's clock right?)"),
        # An unsigned token, or one signed with another algorithm, has no signature we trust.
        (lambda: jwt.encode(claims(), None, algorithm="none"), "u1", TokenSignatureInvalid,
         "identity token signature is invalid"),
        (lambda: jwt.encode(claims(), SECRET * 2, algorithm="HS512"), "u1", TokenSignatureInvalid,
         "identity token signature is invalid"),
        # The signature is checked first: a forged token never reads as merely expired.
        (lambda: issue_identity_token(OTHER_SECRET, "u1", 60, now=time.time() - 7200, audience=KEY), "u1",
         TokenSignatureInvalid, "identity token signature is invalid"),
    ],
    ids=[
        "expired", "bad-signature", "another-user", "no-user-id", "kind", "garbage", "not-a-string", "too-long",
        "no-exp", "uid-not-a-string", "iat-not-a-number", "issued-in-the-future", "alg-none", "alg-hs512",
        "forged-and-expired",
    ],
)  # fmt: skip
def test_each_failure_has_its_own_message(
    token: typing.Callable[[], object], user_id: object, error: type[IdentityTokenError], message: str
) -> None:
    with pytest.raises(error) as raised:
        verify_identity_token(SECRET, token(), user_id, KEY)
    assert str(raised.value) == message


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue_identity_token("short", "u1", 60, audience=KEY)


def test_cli_prints_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--secret", SECRET, "--uid", "u1", "--write-key", KEY, "--ttl", "120"]) == 0
    token = capsys.readouterr().out.strip()
    found = verify_identity_token(SECRET, token, "u1", KEY)
    assert found["exp"] - found["iat"] == 120
    assert main(["token", "--secret", "short", "--uid", "u1", "--write-key", KEY]) == 2
    assert "at least 32 bytes" in capsys.readouterr().err


# A token's lifetime and its source (issue 16)


def test_a_token_living_a_hundred_years_is_refused() -> None:
    century = jwt.encode(claims(exp=int(time.time()) + 100 * 365 * 86400), SECRET, algorithm="HS256")
    with pytest.raises(TokenLivesTooLong):
        verify_identity_token(SECRET, century, "u1", KEY)
    week = jwt.encode(claims(exp=int(time.time()) + 7 * 86400), SECRET, algorithm="HS256")
    assert verify_identity_token(SECRET, week, "u1", KEY)["uid"] == "u1"
    with pytest.raises(ValueError, match="at most"):
        issue_identity_token(SECRET, "u1", 7 * 86400 + 1, audience=KEY)
    assert main(["token", "--secret", SECRET, "--uid", "u1", "--write-key", KEY, "--ttl", "999999999"]) == 2


def test_a_token_is_for_the_sources_it_names() -> None:
    other = issue_identity_token(SECRET, "u1", 60, audience="wk_other_site")
    with pytest.raises(TokenForAnotherSource):
        verify_identity_token(SECRET, other, "u1", KEY)
    both = issue_identity_token(SECRET, "u1", 60, audience=["wk_other_site", KEY])
    assert verify_identity_token(SECRET, both, "u1", KEY)["uid"] == "u1"
    unnamed = jwt.encode({k: v for k, v in claims().items() if k != "aud"}, SECRET, algorithm="HS256")
    with pytest.raises(TokenMalformed):
        verify_identity_token(SECRET, unnamed, "u1", KEY)
