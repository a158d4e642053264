"""Putting a used PostgreSQL test database back to the state of its migrated template,
so the next test can take it instead of waiting for CREATE and DROP DATABASE (a second
or more each, most of the PostgreSQL tests' setup).

A database is reset only when its schema is still the template's: same tables,
columns, indexes, constraints, triggers (and whether each is enabled), functions and
sequences. A test that changed any of that, or left a connection that will not go,
gets its database dropped instead, as before.

Written here because no library fits: pytest-postgresql drops and recreates the
database per test (what this replaces), and a per-test transaction rolled back at the
end cannot hold the tests that commit from several connections and processes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

# The schema as names and definitions, never OIDs: equal for every copy of a template.
FINGERPRINT = sa.text(
    """
    SELECT md5(string_agg(part, E'\\n' ORDER BY part)) FROM (
        SELECT 'c ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(string_agg(
                   a.attname || ':' || format_type(a.atttypid, a.atttypmod)
                   || ':' || a.attnotnull, ',' ORDER BY a.attnum), '') AS part
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
          LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
                                  AND NOT a.attisdropped
         GROUP BY c.relname, c.relkind
        UNION ALL
        SELECT 't ' || c.relname || ' ' || t.tgname || ' ' || t.tgenabled::text
               || ' ' || pg_get_triggerdef(t.oid)
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        UNION ALL
        SELECT 'k ' || conname || ' ' || pg_get_constraintdef(oid)
          FROM pg_constraint WHERE connamespace = 'public'::regnamespace
        UNION ALL
        SELECT 'i ' || indexrelid::regclass::text || ' ' || pg_get_indexdef(indexrelid)
          FROM pg_index JOIN pg_class c ON c.oid = indrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        UNION ALL
        SELECT 'f ' || p.proname || ' ' || md5(p.prosrc)
          FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
    ) parts
    """
)
TABLES = sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
SEQUENCES = sa.text(
    "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename"
)


def _table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns))


@dataclass(frozen=True)
class TemplateState:
    """What a reset puts back: the template's schema fingerprint, the rows the
    migrations wrote (the Alembic version, the access version row, ...), and where
    each sequence stood."""

    fingerprint: str
    tables: tuple[str, ...]
    rows: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]
    sequences: dict[str, tuple[int, bool]]

    @classmethod
    def read(cls, url: str) -> TemplateState:
        engine = sa.create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                fingerprint = conn.execute(FINGERPRINT).scalar_one()
                tables = tuple(conn.execute(TABLES).scalars())
                rows = {}
                for table in tables:
                    result = conn.execute(sa.select(sa.text("*")).select_from(_table(table)))
                    found = [tuple(r) for r in result]
                    if found:
                        rows[table] = (tuple(result.keys()), found)
                sequences = {}
                for name in conn.execute(SEQUENCES).scalars():
                    state = _table(name, "last_value", "is_called")
                    last, called = conn.execute(sa.select(*state.c)).one()
                    sequences[name] = (int(last), bool(called))
        finally:
            engine.dispose()
        return cls(fingerprint, tables, rows, sequences)

    def restore(self, admin: sa.Engine, name: str, url: str) -> bool:
        """Reset database `name` to this state; False if it can't be (the caller drops it)."""
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        engine = sa.create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                if conn.execute(FINGERPRINT).scalar_one() != self.fingerprint:
                    return False
                # Replica mode skips every trigger: the audit tables' append-only guard,
                # the access-version bumps and the foreign-key checks (all rows go).
                conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
                for table in self.tables:
                    conn.execute(sa.delete(_table(table)))
                for table, (columns, found) in self.rows.items():
                    conn.execute(
                        sa.insert(_table(table, *columns)),
                        [dict(zip(columns, row, strict=True)) for row in found],
                    )
                for sequence, (last, called) in self.sequences.items():
                    conn.execute(sa.select(sa.func.setval(sequence, last, called)))
        except sa.exc.OperationalError:
            return False  # a connection that would not go, or the database is gone
        finally:
            engine.dispose()
        return True
