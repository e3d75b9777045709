"""The dashboard's logins, in the database so that every collector process sharing it knows them,
and a logout or an expiry ends them for all (logins.py holds the rules).

    logins(digest, token_mac, expires)   digest: SHA-256 of the cookie; expires: ISO-8601 UTC
"""

from __future__ import annotations

from .db import Transaction

__all__ = ["add", "find", "remove"]


def add(db: Transaction, digest: str, token_mac: str, expires: str, now: str) -> None:
    db.run("DELETE FROM logins WHERE expires <= ?", (now,))
    db.run("INSERT INTO logins (digest, token_mac, expires) VALUES (?, ?, ?)", (digest, token_mac, expires))


def find(db: Transaction, digest: str) -> tuple[str, str] | None:
    rows = db.all("SELECT token_mac, expires FROM logins WHERE digest = ?", (digest,))
    return (str(rows[0][0]), str(rows[0][1])) if rows else None


def remove(db: Transaction, digest: str) -> None:
    db.run("DELETE FROM logins WHERE digest = ?", (digest,))
