"""A client of the collector's admin read API, for tests and benchmarks."""

from __future__ import annotations

import typing

import httpx

__all__ = ["ReadAPI"]


class ReadAPI:
    def __init__(self, url: str, token: str, timeout_s: float = 10) -> None:
        self.url = url
        self.token = token
        self.http = httpx.Client(base_url=url, headers={"Authorization": "Bearer " + token}, timeout=timeout_s)

    def events(self, **filters: str) -> list[dict[str, typing.Any]]:
        """Stored events matching anonymousId=/userId=/messageId=/writeKey=, oldest first."""
        response = self.http.get("/api/events", params=filters)
        response.raise_for_status()
        return typing.cast(list[dict[str, typing.Any]], response.json()["events"])

    def profile(self, **one_id: str) -> dict[str, typing.Any] | None:
        """The profile holding userId= or anonymousId=, or None if no profile has it."""
        response = self.http.get("/api/profiles/lookup", params=one_id)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return typing.cast(dict[str, typing.Any], response.json())

    def sessions(self, **params: str) -> list[dict[str, typing.Any]]:
        """Sessions (GET /api/sessions): profileId=, or from=/to=/limit=/bots=include."""
        response = self.http.get("/api/sessions", params=params)
        response.raise_for_status()
        return typing.cast(list[dict[str, typing.Any]], response.json()["sessions"])

    def fail_next(self, count: int, status: int = 503, retry_after: int | None = None) -> None:
        """The collector (started with --test-hooks) answers the next `count` tracking requests
        with `status` (and a Retry-After header of retry_after seconds) without storing them."""
        body: dict[str, typing.Any] = {"count": count, "status": status}
        if retry_after is not None:
            body["retryAfter"] = retry_after
        self.http.post("/api/test/fail-next", json=body).raise_for_status()

    def close(self) -> None:
        self.http.close()
