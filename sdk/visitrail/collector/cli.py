"""The `visitrail` command.

    visitrail serve [--host 127.0.0.1] [--port 8001] [--db sqlite:///visitrail.db]
                    [--write-key KEY]... [--allow-origin ORIGIN]... [--admin-token TOKEN]
                    [--identity-mode open|verified|required] [--identity-secret SECRET]
                    [--trust-proxy [HOPS]] [--no-ip] [--rate-limit N] [--rate-burst N]
                    [--assets DIR] [--config FILE.json] [--test-hooks] [--log-level info]
    visitrail token --secret SECRET --uid USER_ID [--ttl 3600]
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
import socket
import sys
import typing

from .config import DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT, IDENTITY_MODES, Config, Source, load_config_file

__all__ = ["main", "build_parser", "config_from_args"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="visitrail", description="Visitrail analytics collector and tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the collector (a Segment-compatible tracking API)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8001, help="0 picks a free port (default: 8001)")
    serve.add_argument("--db", help="database URL (default: sqlite:///visitrail.db, in the working directory)")
    serve.add_argument(
        "--write-key", action="append", default=[], metavar="KEY", help="accept this write key (repeatable)"
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="browser origin allowed by CORS (repeatable)",
    )
    serve.add_argument("--admin-token", default=os.environ.get("VISITRAIL_ADMIN_TOKEN"), help="bearer token of /api/*")
    serve.add_argument("--assets", metavar="DIR", help="directory served at /analytics/ (default: web/dist)")
    serve.add_argument(
        "--config", metavar="FILE", help='JSON: {"sources": [{"writeKey", "origins"}], "adminToken", "db"}'
    )
    serve.add_argument(
        "--identity-mode",
        choices=IDENTITY_MODES,
        help="what the --write-key sources do with identity tokens (default: open; see trust.py)",
    )
    serve.add_argument(
        "--identity-secret",
        default=os.environ.get("VISITRAIL_IDENTITY_SECRET"),
        metavar="SECRET",
        help="HS256 secret of the --write-key sources' identity tokens (at least 32 bytes)",
    )
    serve.add_argument(
        "--trust-proxy",
        type=int,
        nargs="?",
        const=1,
        metavar="HOPS",
        help="the collector is behind HOPS reverse proxies (default 1): take the client's IP from X-Forwarded-For",
    )
    serve.add_argument("--no-ip", action="store_true", help="store no IP address at all, not even truncated")
    serve.add_argument(
        "--rate-limit",
        type=float,
        metavar="N",
        help=f"events per second per write key, in each process; 0: no limit (default: {DEFAULT_RATE_LIMIT:g})",
    )
    serve.add_argument(
        "--rate-burst",
        type=int,
        metavar="N",
        help=f"events a write key may send at once (default: {DEFAULT_RATE_BURST})",
    )
    serve.add_argument("--test-hooks", action="store_true", help="enable POST /api/test/fail-next (tests only)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    rebuild = commands.add_parser(
        "rebuild-profiles", help="recompute every profile from the stored events (e.g. after an upgrade)"
    )
    rebuild.add_argument("--db", help="database URL (default: sqlite:///visitrail.db, in the working directory)")
    rebuild.add_argument("--config", metavar="FILE", help="JSON config file; its db is used unless --db is given")
    token = commands.add_parser("token", help="print an identity token for a user, as a site's server issues it")
    token.add_argument(
        "--secret", default=os.environ.get("VISITRAIL_IDENTITY_SECRET"), help="the source's identity secret"
    )
    token.add_argument("--uid", required=True, help="the userId the token vouches for")
    token.add_argument("--ttl", type=int, default=3600, metavar="SECONDS", help="lifetime (default: 3600)")
    erase = commands.add_parser("erase", help="delete a profile with all its IDs and events (right to erasure)")
    erase.add_argument("--db", help="database URL (default: sqlite:///visitrail.db, in the working directory)")
    erase.add_argument("--config", metavar="FILE", help="JSON config file; its db is used unless --db is given")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--user-id", metavar="U", help="the profile holding this userId")
    who.add_argument("--anonymous-id", metavar="A", help="the profile holding this anonymousId")
    who.add_argument("--profile-id", metavar="P", help="the profile with this profileId")
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
    return 2  # pragma: no cover  (argparse rejects unknown commands)


def config_from_args(args: argparse.Namespace) -> Config:
    """Flags on top of the --config file; --write-key adds sources, the other flags replace values."""
    options: dict[str, typing.Any] = load_config_file(args.config) if args.config else {}
    options.setdefault("sources", [])
    keys = getattr(args, "write_key", [])
    mode = getattr(args, "identity_mode", None)
    if mode and not keys:
        raise ValueError("--identity-mode applies to the --write-key sources; give at least one --write-key")
    options["sources"] += [
        Source(
            key,
            tuple(args.allow_origin),
            identity=mode or "open",
            identity_secret=getattr(args, "identity_secret", None) or "",
        )
        for key in keys
    ]
    for name, flag in (("admin_token", "admin_token"), ("db_url", "db"), ("assets_dir", "assets")):
        if getattr(args, flag, None):
            options[name] = getattr(args, flag)
    for name, flag in (("trust_proxy", "trust_proxy"), ("rate_limit", "rate_limit"), ("rate_burst", "rate_burst")):
        if getattr(args, flag, None) is not None:
            options[name] = getattr(args, flag)
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
        print(issue_identity_token(args.secret, args.uid, args.ttl))
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
    import uvicorn

    from .app import create_app

    try:
        config = config_from_args(args)
    except (OSError, ValueError) as exc:  # an unreadable or malformed --config file
        print(f"visitrail: {exc}", file=sys.stderr)
        return 2
    if not config.sources:
        print("visitrail: warning: no --write-key given; every event will be refused with 401", file=sys.stderr)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                host, port = self.servers[0].sockets[0].getsockname()[:2]
                host = f"[{host}]" if ":" in host else host  # an IPv6 address, e.g. --host ::1
                token = f" (admin token: {config.admin_token})" if config.token_generated else ""
                # One line on stdout, flushed: scripts and tests wait for it.
                print(f"visitrail collector listening on http://{host}:{port}{token}", flush=True)

    try:
        app = create_app(config)
    except ValueError as exc:  # e.g. an unsupported database URL
        print(f"visitrail: {exc}", file=sys.stderr)
        return 2
    server = Server(uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level))
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
