"""Collector configuration: sources (write key -> allowed browser origins), admin token, database, assets.

Built from CLI flags, optionally on top of a JSON file:

    {"sources": [{"writeKey": "wk_demo", "origins": ["http://127.0.0.1:8000"]}],
     "adminToken": "secret", "db": "sqlite:////var/lib/visitrail.db", "assets": "web/dist"}

An origin of "*" allows any origin (it is still echoed back, since credentialed CORS can't use "*").
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import secrets
import typing

__all__ = ["Source", "Config", "default_assets_dir", "load_config_file"]

DEFAULT_DB_URL = "sqlite:///visitrail.db"  # relative: in the working directory


def default_assets_dir() -> str:
    """`web/dist/` when running from a source checkout, else the assets packaged with the collector."""
    here = pathlib.Path(__file__).resolve().parent
    repo = here.parents[2]  # sdk/visitrail/collector -> repository root
    if (repo / "pyproject.toml").is_file():
        return str(repo / "web" / "dist")
    return str(here / "static")


def normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/")


@dataclasses.dataclass(frozen=True)
class Source:
    write_key: str
    origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        assert self.write_key, "A source needs a non-empty write key"
        object.__setattr__(self, "origins", tuple(normalise_origin(o) for o in self.origins))

    def allows(self, origin: str) -> bool:
        return "*" in self.origins or normalise_origin(origin) in self.origins


@dataclasses.dataclass
class Config:
    sources: list[Source] = dataclasses.field(default_factory=list)
    admin_token: str = ""  # empty: a random one, which `serve` prints
    db_url: str = DEFAULT_DB_URL
    assets_dir: str = dataclasses.field(default_factory=default_assets_dir)
    test_hooks: bool = False  # enables POST /api/test/fail-next, for end-to-end tests only

    token_generated: bool = dataclasses.field(default=False, init=False)

    def __post_init__(self) -> None:
        if not self.admin_token:
            self.admin_token = secrets.token_urlsafe(24)
            self.token_generated = True

    def source(self, write_key: str | None) -> Source | None:
        return next((source for source in self.sources if write_key and source.write_key == write_key), None)

    def origin_allowed(self, origin: str | None, source: Source | None = None) -> bool:
        """Is `origin` allowed for `source`, or, with no source (a preflight), for any source?"""
        if not origin:
            return False
        candidates = [source] if source is not None else self.sources
        return any(candidate.allows(origin) for candidate in candidates)


def load_config_file(path: str) -> dict[str, typing.Any]:
    """Read a JSON config file into `Config` keyword arguments."""
    with open(path, encoding="utf-8") as file:
        data = json.load(file)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    kwargs: dict[str, typing.Any] = {}
    sources = data.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, dict) and s.get("writeKey") for s in sources):
        raise ValueError(f'{path}: "sources" must be a list of {{"writeKey": ..., "origins": [...]}}')
    kwargs["sources"] = [Source(s["writeKey"], tuple(s.get("origins", ()))) for s in sources]
    for key, name in (("adminToken", "admin_token"), ("db", "db_url"), ("assets", "assets_dir")):
        if data.get(key):
            kwargs[name] = str(data[key])
    if data.get("testHooks"):
        kwargs["test_hooks"] = True
    return kwargs
