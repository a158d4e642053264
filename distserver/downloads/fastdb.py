"""The download fast path's own PostgreSQL connections: autocommit, so each statement
is its own transaction (no BEGIN, COMMIT or pool ROLLBACK around it), durable when it
returns (`synchronous_commit = on`, set per connection whatever the server default),
no pre-ping (a dead connection is found by the statement itself, then dropped), and
prepared statements that stay prepared for the connection's life.

Built lazily per process (so a gunicorn worker never shares a socket with its
parent) from the app's DATABASE_URL. Statements are psycopg's, with named
parameters; SQLAlchemy only keeps the pool.
"""

from __future__ import annotations

import functools
import logging
import os
import select
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import Flask

from distserver.errors import Unavailable

log = logging.getLogger("distserver")
# libpq's PGRES_TUPLES_OK (psycopg.pq.ExecStatus.TUPLES_OK). psycopg is imported only
# once an engine is made: a SQLite process (the demo, the CLI on SQLite) never needs it.
_TUPLES_OK = 2
_KEY = "distserver.fastdb"
_lock = threading.Lock()


class DatabaseUnavailable(Unavailable):
    code = "database_unavailable"


def engine(app: Flask) -> sa.Engine:
    """This process's fast-path engine for `app` (made on first use)."""
    held = app.extensions.get(_KEY)
    if held is not None and held[0] == os.getpid():
        return held[1]
    with _lock:
        held = app.extensions.get(_KEY)
        if held is not None and held[0] == os.getpid():
            return held[1]
        url = sa.make_url(app.config["DATABASE_URL"]).set(drivername="postgresql+psycopg")
        options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
        engine = sa.create_engine(
            url,
            isolation_level="AUTOCOMMIT",
            pool_pre_ping=False,
            pool_reset_on_return=None,
            pool_size=int(options.get("pool_size", 5)),
            max_overflow=int(options.get("max_overflow", 10)),
            connect_args={
                "options": "-c synchronous_commit=on",
                # Prepare on first use: the same few statements run for the life of
                # the connection, and nothing ever rolls their plans away.
                "prepare_threshold": 0,
            },
        )
        app.extensions[_KEY] = (os.getpid(), engine)
        return engine


def dispose(app: Flask) -> None:
    """Close this process's fast-path connections (tests, shutdown)."""
    held = app.extensions.pop(_KEY, None)
    if held is not None and held[0] == os.getpid():
        held[1].dispose()


class Connection:
    """One request's fast-path connection, checked out on its first statement and
    returned by `connection()`'s block."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._raw: Any = None
        self.url = _database(engine)  # what the facts cache keys on, with the statement

    def _checkout(self, *, write: bool) -> Any:
        """A pooled connection. Before a write that is its first statement (cached
        facts need no query first), one known to be dead is swapped for a fresh one:
        an idle connection has nothing to read unless the server closed it (after a
        restart or a terminated backend it sent its last error), and a write is
        never retried, so it must not be sent down a connection that is gone."""
        raw = self._engine.raw_connection()
        if write and _closed_by_server(raw):
            raw.invalidate()
            raw.close()
            self._engine.pool.dispose()
            raw = self._engine.raw_connection()
        return raw

    def fetch_one(
        self, sql: str, params: Mapping[str, Any], *, read_only: bool = False
    ) -> tuple[Any, ...] | None:
        """Run one statement and return its first row (None if it returned none).

        A connection that fails is dropped, with every idle one of the pool (after a
        database restart they are all dead). A `read_only` statement is then tried
        once more on a fresh connection: it wrote nothing, so running it again is
        safe. Any other failure answers 503 in the JSON error shape and is never
        retried, so a statement whose outcome is unknown never runs twice."""
        for attempt in (1, 2):
            try:
                if self._raw is None:
                    self._raw = self._checkout(write=not read_only)
                cursor = self._raw.cursor()
                try:
                    cursor.execute(sql, params)
                    # Not `cursor.description`: it builds a Column per column.
                    result = cursor.pgresult
                    if result is None or result.status != _TUPLES_OK:
                        return None
                    return cursor.fetchone()
                finally:
                    cursor.close()
            except (_libpq_error(), sa.exc.OperationalError) as exc:
                self._drop()
                if read_only and attempt == 1:
                    continue
                log.error("fast path: database unreachable (%s)", type(exc).__name__)
                raise DatabaseUnavailable("The database is unavailable; retry shortly.") from None
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._raw is not None:
            self._raw.invalidate()
            self._raw.close()
            self._raw = None
        self._engine.pool.dispose()  # the idle ones: a fresh connection next time

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None


@functools.cache
def _libpq_error() -> type[Exception]:
    import psycopg

    return psycopg.OperationalError


@functools.cache
def _database(engine: sa.Engine) -> str:
    # Worked out once per engine: hashing a URL object renders it anew every time.
    return engine.url.render_as_string(hide_password=False)


def _closed_by_server(raw: Any) -> bool:
    try:
        socket = raw.driver_connection.pgconn.socket
    except _libpq_error():  # libpq knows already
        return True
    poller = select.poll()
    poller.register(socket, select.POLLIN)
    return bool(poller.poll(0))


@contextmanager
def connection(app: Flask) -> Iterator[Connection]:
    """A fast-path connection for one request (both of its statements)."""
    conn = Connection(engine(app))
    try:
        yield conn
    finally:
        conn.close()


def fetch_one(app: Flask, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """One statement on its own fast-path connection (see Connection.fetch_one)."""
    with connection(app) as conn:
        return conn.fetch_one(sql, params)
