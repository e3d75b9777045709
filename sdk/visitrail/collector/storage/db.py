"""A transaction on a DB-API connection (sqlite3's, or psycopg's sync one), the one way the SQL of
both backends reaches its database. Our SQL is written with `?` placeholders; psycopg's `%s` is
swapped in here."""

from __future__ import annotations

import contextlib
import typing

__all__ = ["CHUNK", "Transaction", "rollback_on_error"]

CHUNK = 500  # values per IN (...) list, well under SQLite's and PostgreSQL's parameter limits


class Transaction:
    """One transaction on a connection; a backend opens it (storage `transaction()`)."""

    def __init__(self, connection: typing.Any, placeholder: str = "?") -> None:
        self.connection = connection
        self.placeholder = placeholder

    def sql(self, sql: str) -> str:
        # Our SQL has no "?" but placeholders; psycopg wants %s.
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def all(self, sql: str, params: typing.Sequence[typing.Any] = ()) -> list[tuple[typing.Any, ...]]:
        rows: list[tuple[typing.Any, ...]] = self.connection.execute(self.sql(sql), params).fetchall()
        return rows

    def run(self, sql: str, params: typing.Sequence[typing.Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        return int(self.connection.execute(self.sql(sql), params).rowcount)

    def run_many(self, sql: str, rows: typing.Sequence[typing.Sequence[typing.Any]]) -> None:
        if rows:
            self.connection.cursor().executemany(self.sql(sql), rows)

    def all_in(
        self, sql: str, values: typing.Iterable[typing.Any], params: typing.Sequence[typing.Any] = ()
    ) -> list[tuple[typing.Any, ...]]:
        """`sql` with its `IN ({})` filled with `values`, in chunks."""
        values = list(values)
        rows = []
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            rows += self.all(sql.format(", ".join("?" * len(chunk))), [*chunk, *params])
        return rows


@contextlib.contextmanager
def rollback_on_error(connection: typing.Any) -> typing.Iterator[None]:
    """COMMIT when the block succeeds, else ROLLBACK and re-raise."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # a broken connection can't roll back; the error that broke it matters
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
