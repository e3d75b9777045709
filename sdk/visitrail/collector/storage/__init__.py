"""Storage backends, chosen by the database URL's scheme (as encode/databases does).

Backends are imported lazily from a string so that optional drivers (psycopg for PostgreSQL)
are only needed when their scheme is used.
"""

from __future__ import annotations

import importlib

from .base import Event, Storage

__all__ = ["Event", "Storage", "SUPPORTED_BACKENDS", "open_storage"]

# A PostgreSQL backend would be added here as "postgresql": "...postgres:PostgresStorage".
SUPPORTED_BACKENDS = {
    "sqlite": "visitrail.collector.storage.sqlite:SQLiteStorage",
}


def open_storage(url: str) -> Storage:
    scheme = url.partition(":")[0].lower()
    if scheme not in SUPPORTED_BACKENDS or "://" not in url:
        supported = ", ".join(f"{name}://" for name in SUPPORTED_BACKENDS)
        raise ValueError(f"Unsupported database URL {url!r}; supported schemes: {supported}")
    module_name, _, class_name = SUPPORTED_BACKENDS[scheme].partition(":")
    backend_cls: type[Storage] = getattr(importlib.import_module(module_name), class_name)
    assert issubclass(backend_cls, Storage)
    return backend_cls(url)
