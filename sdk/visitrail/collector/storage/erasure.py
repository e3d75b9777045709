"""The right to erasure: a profile, its traits, every ID it holds and every event that is its,
deleted in one transaction."""

from __future__ import annotations

import typing

from .db import Transaction

__all__ = ["erase"]


def erase(db: Transaction, profile_id: str) -> dict[str, typing.Any] | None:
    """Delete a profile and everything that is its: see `Storage.erase_profile`."""
    if not db.all("SELECT id FROM profiles WHERE id = ?", (profile_id,)):
        return None
    events = db.run("DELETE FROM events WHERE profile_id = ?", (profile_id,))
    identities = db.run("DELETE FROM identities WHERE profile_id = ?", (profile_id,))
    db.run("DELETE FROM traits WHERE profile_id = ?", (profile_id,))
    db.run("DELETE FROM profiles WHERE id = ?", (profile_id,))
    return {"profileId": profile_id, "events": events, "identities": identities}
