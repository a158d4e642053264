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

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

import psycopg
import sqlalchemy as sa
from flask import Flask

from distserver.errors import Unavailable

log = logging.getLogger("distserver")
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


def fetch_one(app: Flask, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Run one statement on a fast-path connection and return its first row (None if
    it returned none). A connection that fails is dropped from the pool and the
    request answered 503 in the JSON error shape; nothing is retried, so a statement
    whose outcome is unknown never runs twice."""
    raw = engine(app).raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(sql, params)
            row = cursor.fetchone() if cursor.description else None
        finally:
            cursor.close()
        return row
    except psycopg.OperationalError as exc:
        raw.invalidate()
        log.error("fast path: database unreachable (%s)", type(exc).__name__)
        raise DatabaseUnavailable("The database is unavailable; retry shortly.") from None
    finally:
        raw.close()
