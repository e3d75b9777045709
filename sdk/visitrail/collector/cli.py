"""The `visitrail` command.

    visitrail serve [--host 127.0.0.1] [--port 8001] [--db sqlite:///visitrail.db]
                    [--write-key KEY]... [--allow-origin ORIGIN]... [--admin-token TOKEN]
                    [--identity-mode open|verified|required] [--identity-secret SECRET]
                    [--trust-proxy [HOPS]] [--no-ip] [--rate-limit N] [--rate-burst N] [--ip-rate-limit N]
                    [--header-timeout S] [--body-timeout S] [--max-connections N] [--shutdown-timeout S]
                    [--max-anonymous-ids N] [--max-user-ids N] [--max-traits N] [--blocked-id VALUE]
                    [--retain-days N] [--assets DIR] [--config FILE.json] [--test-hooks] [--log-level info]
    visitrail token --secret SECRET --uid USER_ID --write-key KEY [--ttl 3600]
    visitrail erase [--db URL] [--config FILE.json] (--user-id U | --anonymous-id A | --profile-id P)
    visitrail rebuild-profiles [--db URL] [--config FILE.json]
    visitrail demo ...        handed to visitrail.collector.demo:main(argv)

`serve` prints one line once the socket is bound, e.g.
    visitrail collector listening on http://127.0.0.1:8001 (admin token: ...)
(the token only when it was generated).
`--port 0` picks a free port; read it from that line. Every --allow-origin, --identity-mode and
--identity-secret applies to every --write-key given on the command line; a --config file can give
each source its own. The admin token defaults to $VISITRAIL_ADMIN_TOKEN, else a random one; the
identity secret to $VISITRAIL_IDENTITY_SECRET.
`token` prints an identity token for a user (tokens.py), as a site's server would issue it.
`erase` deletes a profile with all its IDs and events, in one transaction (the right to erasure).
`rebuild-profiles` recomputes session ids and profiles from the stored events (profiles.py), in one
transaction; collectors may keep running, their batches wait for it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import typing

from .. import __version__
from .config import DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT, IDENTITY_MODES, Config, Source, load_config_file

__all__ = ["main", "build_parser", "config_from_args"]


ENV_PREFIX = "VISITRAIL_"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def env(name: str, default: typing.Any = None) -> typing.Any:
    """$VISITRAIL_<NAME>: every `serve` option can come from the environment (a process manager's
    unit file, a container), the command line winning over it."""
    return os.environ.get(ENV_PREFIX + name, default)


def env_list(name: str) -> list[str]:
    """A repeatable option from the environment: comma-separated."""
    return [item.strip() for item in env(name, "").split(",") if item.strip()]


def env_flag(name: str) -> bool:
    return str(env(name, "")).strip().lower() in ("1", "true", "yes", "on")


def secret_from_file(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.readline().strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="visitrail", description="Visitrail analytics collector and tools.")
    parser.add_argument("--version", action="version", version=f"visitrail {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the collector (a Segment-compatible tracking API)",
        description="Run the collector. Every option can also be set in the environment as VISITRAIL_<OPTION> "
        "(e.g. VISITRAIL_DB, VISITRAIL_ADMIN_TOKEN; VISITRAIL_WRITE_KEY and VISITRAIL_ALLOW_ORIGIN take "
        "comma-separated lists; VISITRAIL_NO_IP=1); the command line wins over the environment, which wins "
        "over --config.",
    )
    serve.add_argument("--host", default=env("HOST", "127.0.0.1"), help="(default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=int(env("PORT", 8001)), help="0 picks a free port (default: 8001)")
    serve.add_argument(
        "--workers",
        type=int,
        default=int(env("WORKERS", 1)),
        metavar="N",
        help="collector processes sharing the port (default: 1); more than one wants PostgreSQL",
    )
    serve.add_argument(
        "--db", default=env("DB"), help="database URL (default: sqlite:///visitrail.db, in the working directory)"
    )
    serve.add_argument(
        "--write-key",
        action="append",
        default=None,
        metavar="KEY",
        help="accept this write key (repeatable; $VISITRAIL_WRITE_KEY: comma-separated)",
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="browser origin allowed by CORS (repeatable; $VISITRAIL_ALLOW_ORIGIN: comma-separated)",
    )
    serve.add_argument(
        "--admin-token", default=env("ADMIN_TOKEN"), help="bearer token of /api/* and the dashboard's login"
    )
    serve.add_argument(
        "--admin-token-file",
        default=env("ADMIN_TOKEN_FILE"),
        metavar="FILE",
        help="read the admin token from this file's first line (keeps it out of `ps`)",
    )
    serve.add_argument(
        "--assets",
        default=env("ASSETS"),
        metavar="DIR",
        help="the browser assets served at /analytics/ (default: the ones this install carries; in a source "
        "checkout, web/dist/)",
    )
    serve.add_argument(
        "--config",
        default=env("CONFIG"),
        metavar="FILE",
        help='JSON: {"sources": [{"writeKey", "origins"}], "adminToken", "db"}',
    )
    serve.add_argument(
        "--identity-mode",
        default=env("IDENTITY_MODE"),
        choices=IDENTITY_MODES,
        help="what the --write-key sources do with identity tokens (default: open; see trust.py)",
    )
    serve.add_argument(
        "--identity-secret",
        default=env("IDENTITY_SECRET"),
        metavar="SECRET",
        help="HS256 secret of the --write-key sources' identity tokens (at least 32 bytes)",
    )
    serve.add_argument(
        "--cookie-domain",
        default=env("COOKIE_DOMAIN"),
        metavar="DOMAIN",
        help="the site's cookie domain (the tag's data-domain, e.g. .example.com): a collector of that domain "
        "refreshes the visitor's cookies, which browsers cap when script writes them",
    )
    serve.add_argument(
        "--trust-proxy",
        type=int,
        nargs="?",
        const=1,
        default=None if env("TRUST_PROXY") is None else int(env("TRUST_PROXY")),
        metavar="HOPS",
        help="the collector is behind HOPS reverse proxies (default 1): take the client's IP from X-Forwarded-For",
    )
    serve.add_argument(
        "--no-ip", action="store_true", default=env_flag("NO_IP"), help="store no IP address at all, not even truncated"
    )
    serve.add_argument(
        "--rate-limit",
        type=float,
        default=None if env("RATE_LIMIT") is None else float(env("RATE_LIMIT")),
        metavar="N",
        help=f"events per second per write key, in each process; 0: no limit (default: {DEFAULT_RATE_LIMIT:g})",
    )
    serve.add_argument(
        "--rate-burst",
        type=int,
        default=None if env("RATE_BURST") is None else int(env("RATE_BURST")),
        metavar="N",
        help=f"events a write key may send at once (default: {DEFAULT_RATE_BURST})",
    )
    for flag, kind, default, meaning in (
        ("ip-rate-limit", float, 100.0, "tracking requests per second per client address, in each process; 0: none"),
        ("header-timeout", float, 10.0, "seconds a request's head may take to arrive"),
        ("body-timeout", float, 30.0, "seconds a request's body may take to arrive, after its head"),
        ("max-connections", int, 1000, "open connections per process; one more is answered 503"),
        ("shutdown-timeout", float, 10.0, "seconds that requests under way get after SIGTERM"),
        ("max-anonymous-ids", int, 1000, "anonymous IDs one profile may hold; 0: no limit"),
        ("max-user-ids", int, 10, "user IDs one profile may hold; 0: no limit"),
        ("max-traits", int, 1000, "trait keys one profile may hold; 0: no limit"),
        ("retain-days", int, 0, "delete events received more than N days ago (PostgreSQL: whole days); 0: keep"),
    ):
        name = flag.upper().replace("-", "_")
        serve.add_argument(
            f"--{flag}",
            type=kind,
            default=None if env(name) is None else kind(env(name)),
            metavar="N",
            help=f"{meaning} (default: {default:g})",
        )
    serve.add_argument(
        "--blocked-id",
        action="append",
        default=[value for value in (env("BLOCKED_ID") or "").split(",") if value],
        metavar="VALUE",
        help="refuse VALUE as a userId, anonymousId or previousId, beside the placeholders (repeatable)",
    )
    serve.add_argument(
        "--test-hooks",
        action="store_true",
        default=env_flag("TEST_HOOKS"),
        help="enable POST /api/test/fail-next (tests only)",
    )
    serve.add_argument("--log-level", default=env("LOG_LEVEL", "info"), choices=LOG_LEVELS)
    # The commands that work on the database alone.
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument(
        "--db", default=env("DB"), help="database URL (default: sqlite:///visitrail.db, in the working directory)"
    )
    database.add_argument(
        "--config", default=env("CONFIG"), metavar="FILE", help="JSON config file; its db is used unless --db is given"
    )
    commands.add_parser(
        "rebuild-profiles",
        parents=[database],
        help="recompute every profile from the stored events (e.g. after an upgrade)",
    )
    token = commands.add_parser("token", help="print an identity token for a user, as a site's server issues it")
    token.add_argument("--secret", default=env("IDENTITY_SECRET"), help="the source's identity secret")
    token.add_argument("--uid", required=True, help="the userId the token vouches for")
    token.add_argument(
        "--write-key",
        action="append",
        required=True,
        metavar="KEY",
        help="the source the token is for (its aud; repeatable for several)",
    )
    token.add_argument(
        "--ttl", type=int, default=3600, metavar="SECONDS", help="lifetime, at most 7 days (default: 3600)"
    )
    erase = commands.add_parser(
        "erase", parents=[database], help="delete a profile with all its IDs and events (right to erasure)"
    )
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--user-id", metavar="U", help="the profile holding this userId")
    who.add_argument("--anonymous-id", metavar="A", help="the profile holding this anonymousId")
    who.add_argument("--profile-id", metavar="P", help="the profile with this profileId")
    assets = commands.add_parser("assets", help="the browser assets this collector serves")
    assets_commands = assets.add_subparsers(dest="assets_command", required=True, metavar="ACTION")
    export = assets_commands.add_parser(
        "export", help="write them to a folder, for any static host or CDN (see README, 'Serving the assets')"
    )
    export.add_argument("directory", metavar="DIR", help="where to write them (created; must be empty if it exists)")
    export.add_argument("--assets", default=env("ASSETS"), metavar="DIR", help="export these instead")
    snippet = assets_commands.add_parser(
        "snippet",
        help="print the inline snippet, a <script> for the page's HTML instead of the tag (see README, "
        "'The inline snippet'), and the CSP hash that allows it",
    )
    snippet.add_argument("--endpoint", required=True, help="the collector's URL, as the tag's data-endpoint")
    snippet.add_argument("--write-key", required=True, help="the source's write key (data-write-key)")
    snippet.add_argument(
        "--loader",
        metavar="URL",
        help="where loader.js is (default: <endpoint>/analytics/loader.js, as this collector serves it)",
    )
    snippet.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another of the tag's data-* attributes, e.g. --data id-storage=cookie (repeatable)",
    )
    snippet.add_argument("--assets", default=env("ASSETS"), metavar="DIR", help="the assets to take it from")
    # Listed for --help only: main() hands `demo` its arguments untouched, before parsing.
    commands.add_parser(
        "demo", help="run the demo site against a collector (see visitrail demo --help)", add_help=False
    )
    return parser


def main(argv: typing.Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:
        from .demo import main as demo_main  # imported only when asked for

        return demo_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "rebuild-profiles":
        return rebuild_profiles(args)
    if args.command == "token":
        return print_token(args)
    if args.command == "erase":
        return erase_profile(args)
    if args.command == "assets":
        return print_snippet(args) if args.assets_command == "snippet" else export_assets(args)
    return 2  # pragma: no cover  (argparse rejects unknown commands)


def config_from_args(args: argparse.Namespace) -> Config:
    """Flags on top of the --config file; --write-key adds sources, the other flags replace values."""
    options: dict[str, typing.Any] = load_config_file(args.config) if args.config else {}
    options.setdefault("sources", [])
    keys = getattr(args, "write_key", None)
    mode = getattr(args, "identity_mode", None)
    if mode and not (keys or env_list("WRITE_KEY")):
        raise ValueError("--identity-mode applies to the --write-key sources; give at least one --write-key")
    keys = keys if keys is not None else env_list("WRITE_KEY")
    origins = getattr(args, "allow_origin", None)
    origins = origins if origins is not None else env_list("ALLOW_ORIGIN")
    options["sources"] += [
        Source(
            key,
            tuple(origins),
            identity=mode or "open",
            identity_secret=getattr(args, "identity_secret", None) or "",
            cookie_domain=getattr(args, "cookie_domain", None) or "",
        )
        for key in keys
    ]
    for name, flag in (("admin_token", "admin_token"), ("db_url", "db"), ("assets_dir", "assets")):
        if getattr(args, flag, None):
            options[name] = getattr(args, flag)
    # After --admin-token: a file named on the command line wins over $VISITRAIL_ADMIN_TOKEN.
    if getattr(args, "admin_token_file", None):
        options["admin_token"] = secret_from_file(args.admin_token_file)
    numbers = ("trust_proxy", "rate_limit", "rate_burst", "ip_rate_limit", "header_timeout", "body_timeout",
               "max_connections", "shutdown_timeout", "max_anonymous_ids", "max_user_ids", "max_traits",
               "retain_days")  # fmt: skip
    for name in numbers:
        flag = name
        if getattr(args, flag, None) is not None:
            options[name] = getattr(args, flag)
    if getattr(args, "blocked_id", None):
        options["blocked_ids"] = tuple(options.get("blocked_ids", ())) + tuple(args.blocked_id)
    if getattr(args, "no_ip", False):
        options["store_ip"] = False
    if getattr(args, "test_hooks", False):
        options["test_hooks"] = True
    return Config(**options)


def print_token(args: argparse.Namespace) -> int:
    from .tokens import issue_identity_token

    if not args.secret:
        print("visitrail: give --secret (or set $VISITRAIL_IDENTITY_SECRET)", file=sys.stderr)
        return 2
    try:
        keys = args.write_key
        print(issue_identity_token(args.secret, args.uid, args.ttl, audience=keys[0] if len(keys) == 1 else keys))
    except ValueError as exc:
        print(f"visitrail: {exc}", file=sys.stderr)
        return 2
    return 0


def erase_profile(args: argparse.Namespace) -> int:
    from .storage import open_storage

    async def erase(url: str) -> dict[str, typing.Any] | None:
        storage = open_storage(url)
        await storage.connect()
        try:
            return await storage.erase_profile(
                profile_id=args.profile_id, user_id=args.user_id, anonymous_id=args.anonymous_id
            )
        finally:
            await storage.disconnect()

    try:
        erased = asyncio.run(erase(config_from_args(args).db_url))
    except (OSError, ValueError) as exc:  # a bad --config file or database URL
        print(f"visitrail: {exc}", file=sys.stderr)
        return 2
    if erased is None:
        named = next(f"{flag} {value}" for flag, value in (
            ("profileId", args.profile_id), ("userId", args.user_id), ("anonymousId", args.anonymous_id)
        ) if value is not None)  # fmt: skip
        print(f"visitrail: no profile has {named}", file=sys.stderr)
        return 1
    events, identities = erased["events"], erased["identities"]
    print(
        f"visitrail: erased profile {erased['profileId']}: {events} event{'' if events == 1 else 's'}, "
        f"{identities} ID{'' if identities == 1 else 's'}"
    )
    return 0


def rebuild_profiles(args: argparse.Namespace) -> int:
    from .storage import open_storage

    async def rebuild(url: str) -> int:
        storage = open_storage(url)
        await storage.connect()  # migrates the schema first, if needed
        try:
            return await storage.rebuild_profiles()
        finally:
            await storage.disconnect()

    try:
        count = asyncio.run(rebuild(config_from_args(args).db_url))
    except (OSError, ValueError) as exc:  # a bad --config file or database URL
        print(f"visitrail: {exc}", file=sys.stderr)
        return 2
    print(f"visitrail: rebuilt {count} profile{'' if count == 1 else 's'}")
    return 0


def serve(args: argparse.Namespace) -> int:
    from .serve import run

    try:
        config = config_from_args(args)
    except (OSError, ValueError) as exc:  # an unreadable or malformed --config file, a bad option
        print(f"visitrail: {exc}", file=sys.stderr)
        return 2
    if not config.sources:
        print("visitrail: warning: no --write-key given; every event will be refused with 401", file=sys.stderr)
    if args.admin_token and args.admin_token != env("ADMIN_TOKEN"):
        print(
            "visitrail: warning: --admin-token shows in every process listing (ps); give it in "
            "$VISITRAIL_ADMIN_TOKEN or --admin-token-file FILE instead",
            file=sys.stderr,
        )
    return run(config, args.host, args.port, args.log_level, args.workers)


def export_assets(args: argparse.Namespace) -> int:
    from . import assets

    source = args.assets or assets.default_dir()
    try:
        count = assets.export(source, args.directory)
    except (OSError, ValueError) as exc:
        print(f"visitrail: {exc}", file=sys.stderr)
        return 1
    print(f"visitrail: wrote {count} files to {args.directory} (version {assets.version_of(args.directory)})")
    return 0


def print_snippet(args: argparse.Namespace) -> int:
    from . import assets
    from .snippet import inline_element

    endpoint = args.endpoint.rstrip("/")
    attributes = {"endpoint": endpoint, "write-key": args.write_key}
    for item in args.data:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"visitrail: --data {item}: give NAME=VALUE", file=sys.stderr)
            return 2
        attributes[name.strip().removeprefix("data-")] = value
    try:
        element, source = inline_element(
            args.assets or assets.default_dir(), args.loader or endpoint + "/analytics/loader.js", attributes
        )
    except (OSError, ValueError) as exc:
        print(f"visitrail: {exc}", file=sys.stderr)
        return 1
    print(f"<!-- Content-Security-Policy: script-src {source} (or a nonce); the attributes may change -->")
    print(element)
    return 0


if __name__ == "__main__":
    sys.exit(main())
