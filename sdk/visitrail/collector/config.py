"""Collector configuration: sources (write key -> allowed browser origins, identity policy), admin
token, database, assets, privacy and rate limits.

Built from CLI flags, optionally on top of a JSON file:

    {"sources": [{"writeKey": "wk_demo", "origins": ["http://127.0.0.1:8000"],
                  "identity": "verified", "identitySecret": "<at least 32 bytes>",
                  "cookieDomain": ".example.com"}],
     "adminToken": "secret", "db": "sqlite:////var/lib/visitrail.db", "assets": "web/dist",
     "trustProxy": 1, "storeIp": true, "rateLimit": 1000, "rateBurst": 5000,
     "maxAnonymousIds": 1000, "maxUserIds": 10, "maxTraits": 1000, "blockedIds": ["guest-0"], "retainDays": 395}

An origin of "*" allows any origin (it is still echoed back, since credentialed CORS can't use "*").
`identity` is "open" (default), "verified" or "required"; see trust.py. `cookieDomain`: the site's
cookie domain (the tag's data-domain), for a collector of that domain to refresh the visitor's
cookies (refresh.py). `trustProxy` is how many
reverse proxies stand in front of the collector (0: X-Forwarded-For is ignored); see client_ip.py.
`rateLimit` is events per second per write key (0: unlimited), `rateBurst` the bucket's size.
`maxAnonymousIds`, `maxUserIds`, `maxTraits`: identity limits per profile (profiles.py rule 8; 0:
none); `blockedIds`: more values refused as IDs, beside the placeholders of core/ids.py;
`retainDays`: events older than that many days are deleted (0: kept).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import typing

from . import assets
from .profiles import Limits
from .tokens import check_secret

__all__ = ["IDENTITY_MODES", "Source", "Config", "load_config_file"]

DEFAULT_DB_URL = "sqlite:///visitrail.db"  # relative: in the working directory
IDENTITY_MODES = ("open", "verified", "required")
# Generous: a busy site's browsers together, not one abusive client; per collector process.
DEFAULT_RATE_LIMIT = 1000.0  # events per second, per write key
DEFAULT_RATE_BURST = 5000  # events; at least one full batch (2,500 messages)
# A page sends a batch a second at most; this is a hundred busy tabs behind one address (an office's
# NAT), and bursts of twice as many.
DEFAULT_IP_RATE_LIMIT = 100.0
DEFAULT_LIMITS = Limits()  # identity limits per profile (profiles.py rule 8)


def normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/")


@dataclasses.dataclass(frozen=True)
class Source:
    write_key: str
    origins: tuple[str, ...] = ()
    identity: str = "open"  # one of IDENTITY_MODES
    identity_secret: str = dataclasses.field(default="", repr=False)
    cookie_domain: str = ""  # the site's cookie domain (data-domain): the collector refreshes its cookies (refresh.py)

    def __post_init__(self) -> None:
        if not self.write_key:
            raise ValueError("a source needs a non-empty write key")
        object.__setattr__(self, "origins", tuple(normalise_origin(o) for o in self.origins))
        if self.identity not in IDENTITY_MODES:
            raise ValueError(f"source {self.write_key!r}: identity must be one of {', '.join(IDENTITY_MODES)}")
        if self.identity != "open":
            if not self.identity_secret:
                raise ValueError(f"source {self.write_key!r}: identity {self.identity!r} needs an identity secret")
            check_secret(self.identity_secret)

    def allows(self, origin: str) -> bool:
        return "*" in self.origins or normalise_origin(origin) in self.origins


@dataclasses.dataclass
class Config:
    sources: list[Source] = dataclasses.field(default_factory=list)
    admin_token: str = ""  # empty: a random one, which `serve` prints
    db_url: str = DEFAULT_DB_URL
    assets_dir: str = dataclasses.field(default_factory=assets.default_dir)
    test_hooks: bool = False  # enables POST /api/test/fail-next, for end-to-end tests only
    trust_proxy: int = 0  # reverse proxies in front of us whose X-Forwarded-For entries we believe
    store_ip: bool = True  # the client's truncated IP address, in the events' ip column
    rate_limit: float = DEFAULT_RATE_LIMIT  # events per second per write key; 0: no limit
    rate_burst: int = DEFAULT_RATE_BURST
    ip_rate_limit: float = DEFAULT_IP_RATE_LIMIT  # tracking requests per second per client address; 0: none
    # Connections (connections.py, body.py, serve.py): seconds, and connections per process.
    header_timeout: float = 10.0  # for a request's head, from the connection's start or the last answer
    body_timeout: float = 30.0  # for a request's whole body, from its head
    max_connections: int = 1000
    shutdown_timeout: float = 10.0  # after SIGTERM, for the requests under way
    # Identity limits per profile (profiles.py rule 8); 0: none.
    max_anonymous_ids: int = DEFAULT_LIMITS.anonymous_ids
    max_user_ids: int = DEFAULT_LIMITS.user_ids
    max_traits: int = DEFAULT_LIMITS.traits
    blocked_ids: tuple[str, ...] = ()  # refused as IDs, beside core/ids.py's placeholders
    retain_days: int = 0  # events received more than this many days ago are deleted; 0: kept for good

    token_generated: bool = dataclasses.field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.trust_proxy < 0 or self.rate_limit < 0 or self.rate_burst < 1 or self.ip_rate_limit < 0:
            raise ValueError("trust proxy hops and the rate limit must not be negative, the burst at least 1")
        if min(self.header_timeout, self.body_timeout, self.shutdown_timeout) <= 0 or self.max_connections < 1:
            raise ValueError("timeouts must be positive, and at least one connection allowed")
        if min(self.max_anonymous_ids, self.max_user_ids, self.max_traits, self.retain_days) < 0:
            raise ValueError("identity limits and --retain-days must not be negative (0: none)")
        self.blocked_ids = tuple(sorted({value.strip().lower() for value in self.blocked_ids if value.strip()}))
        if not self.admin_token:
            self.admin_token = secrets.token_urlsafe(24)
            self.token_generated = True

    def to_dict(self) -> dict[str, typing.Any]:
        """The configuration as JSON-able data, for another process (serve.py's workers)."""
        data = dataclasses.asdict(self)
        data["sources"] = [dataclasses.asdict(source) for source in self.sources]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, typing.Any]) -> Config:
        options = {key: value for key, value in data.items() if key != "token_generated"}
        options["sources"] = [
            Source(s["write_key"], tuple(s["origins"]), s["identity"], s["identity_secret"], s["cookie_domain"])
            for s in data["sources"]
        ]
        config = cls(**options)
        config.token_generated = bool(data.get("token_generated"))
        return config

    def limits(self) -> Limits:
        return Limits(self.max_anonymous_ids, self.max_user_ids, self.max_traits)

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
    try:
        kwargs["sources"] = [
            Source(
                s["writeKey"],
                tuple(s.get("origins", ())),
                identity=s.get("identity") or "open",
                identity_secret=s.get("identitySecret") or "",
                cookie_domain=s.get("cookieDomain") or "",
            )
            for s in sources
        ]
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    for key, name in (("adminToken", "admin_token"), ("db", "db_url"), ("assets", "assets_dir")):
        if data.get(key):
            kwargs[name] = str(data[key])
    if data.get("testHooks"):
        kwargs["test_hooks"] = True
    for key, name, kind in (
        ("trustProxy", "trust_proxy", int),
        ("storeIp", "store_ip", bool),
        ("rateLimit", "rate_limit", (int, float)),
        ("rateBurst", "rate_burst", int),
        ("ipRateLimit", "ip_rate_limit", (int, float)),
        ("headerTimeout", "header_timeout", (int, float)),
        ("bodyTimeout", "body_timeout", (int, float)),
        ("maxConnections", "max_connections", int),
        ("shutdownTimeout", "shutdown_timeout", (int, float)),
        ("maxAnonymousIds", "max_anonymous_ids", int),
        ("maxUserIds", "max_user_ids", int),
        ("maxTraits", "max_traits", int),
        ("retainDays", "retain_days", int),
    ):
        if key in data:
            if not isinstance(data[key], kind) or (kind is not bool and isinstance(data[key], bool)):
                raise ValueError(f"{path}: {key} has the wrong type")
            kwargs[name] = data[key]
    blocked = data.get("blockedIds", [])
    if not isinstance(blocked, list) or not all(isinstance(value, str) for value in blocked):
        raise ValueError(f"{path}: blockedIds must be a list of strings")
    if blocked:
        kwargs["blocked_ids"] = tuple(blocked)
    return kwargs
