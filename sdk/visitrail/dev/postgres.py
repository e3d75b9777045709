"""PostgreSQL for the tests: a throwaway server, or the one VISITRAIL_TEST_DATABASE_URLS names.

`PostgresServer.start()` runs Debian's server binaries (/usr/lib/postgresql/<version>/bin) on a free
port in a temporary directory, as the `postgres` user when we are root (initdb refuses root), with
fsync off: the data is thrown away. Each test gets a fresh database from `new_database()`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pathlib
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import typing
import urllib.parse
import uuid

__all__ = ["PostgresServer", "find_binaries", "server_or_reason", "URLS_ENV", "NO_POSTGRES"]

URLS_ENV = "VISITRAIL_TEST_DATABASE_URLS"
START_SECONDS = 60


def find_binaries() -> str | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[-3]))
    return os.path.dirname(found[-1]) if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_database(url: str, name: str) -> str:
    """`url` (postgresql://...) with its database replaced by `name`."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


class PostgresServer:
    def __init__(self, admin_url: str, stop: typing.Callable[[], None] | None = None) -> None:
        self.admin_url = admin_url  # a database we may CREATE DATABASE from
        self._stop = stop

    @classmethod
    def start(cls, bin_dir: str) -> PostgresServer:
        root = tempfile.mkdtemp(prefix="visitrail-pg-")
        data = os.path.join(root, "data")
        port = free_port()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)

        def run(*command: str) -> None:
            subprocess.run(as_postgres(list(command)), check=True, capture_output=True, timeout=START_SECONDS, cwd=root)

        try:
            run(f"{bin_dir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
            options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
            run(f"{bin_dir}/pg_ctl", "-D", data, "-o", options, "-l", os.path.join(root, "log"), "-w", "start")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            log = os.path.join(root, "log")
            details = pathlib.Path(log).read_text() if os.path.exists(log) else getattr(exc, "stderr", b"").decode()
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"could not start a throwaway PostgreSQL: {exc}\n{details}") from None

        def stop() -> None:
            with contextlib.suppress(subprocess.SubprocessError):
                run(f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
            shutil.rmtree(root, ignore_errors=True)

        return cls(f"postgresql://postgres@127.0.0.1:{port}/postgres", stop)

    @contextlib.contextmanager
    def database(self) -> typing.Iterator[str]:
        """A URL to a new, empty database, dropped afterwards."""
        import psycopg

        name = f"visitrail_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(self.admin_url, name)
        finally:
            with psycopg.connect(self.admin_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()


def as_postgres(command: list[str]) -> list[str]:
    """`command` run as the postgres user when we are root: initdb and postgres refuse root."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]


NO_POSTGRES = (
    "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): apt-get install postgresql, "
    f"or set {URLS_ENV}=postgresql://user@host/db"
)


def server_or_reason() -> tuple[PostgresServer | None, str]:
    """The server $VISITRAIL_TEST_DATABASE_URLS names (its first postgresql:// URL), else a throwaway
    one started from Debian's binaries; or (None, why not). stop() it when done (a named server is
    left running)."""
    given = [url for url in os.environ.get(URLS_ENV, "").split(",") if url.startswith(("postgresql:", "postgres:"))]
    if given:
        return PostgresServer(given[0]), f"the server ${URLS_ENV} names"
    bin_dir = find_binaries()
    if bin_dir is None:
        return None, NO_POSTGRES
    try:
        server = PostgresServer.start(bin_dir)
    except RuntimeError as exc:
        return None, str(exc).splitlines()[0]
    version = bin_dir.rstrip("/").split("/")[-2]
    return server, f"a throwaway PostgreSQL {version} cluster, fsync=off and full_page_writes=off"
