"""Query parameters of the read API and the dashboard, read one way."""

from __future__ import annotations

from starlette.requests import Request

from .errors import invalid

__all__ = ["MAX_OFFSET", "int_param"]

MAX_OFFSET = 2**62  # fits SQLite's and Postgres' int8


def int_param(request: Request, name: str, default: int, maximum: int) -> int:
    """A whole number from 0 to `maximum`, `default` when absent; 400 otherwise."""
    value = request.query_params.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) > maximum:
        raise invalid(f"{name} must be a whole number from 0 to {maximum}")
    return int(value)
