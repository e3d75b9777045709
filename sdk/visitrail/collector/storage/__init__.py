"""Storage backends, chosen by the database URL's scheme (as encode/databases does).

Backends are imported lazily from a string so that a driver (psycopg for PostgreSQL) is only
imported when its scheme is used.
"""

from __future__ import annotations

import importlib

from .base import Added, Event, Storage

__all__ = ["Added", "Event", "Storage", "SUPPORTED_BACKENDS", "open_storage"]

SUPPORTED_BACKENDS = {
    "sqlite": "visitrail.collector.storage.sqlite:SQLiteStorage",
    "postgresql": "visitrail.collector.storage.postgres:PostgresStorage",
    "postgres": "visitrail.collector.storage.postgres:PostgresStorage",  # libpq accepts both spellings
}


def open_storage(url: str) -> Storage:
    scheme = url.partition(":")[0].lower()
    if scheme not in SUPPORTED_BACKENDS or "://" not in url:
        supported = ", ".join(f"{name}://" for name in SUPPORTED_BACKENDS)
        raise ValueError(f"Unsupported database URL {url!r}; supported schemes: {supported}")
    module_name, _, class_name = SUPPORTED_BACKENDS[scheme].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("psycopg"):
            raise
        raise ValueError(f"{scheme}:// needs psycopg: pip install 'visitrail[postgres]'") from None
    backend_cls: type[Storage] = getattr(module, class_name)
    assert issubclass(backend_cls, Storage)
    return backend_cls(url)
