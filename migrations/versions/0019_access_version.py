"""access version (the fast path's facts cache check)

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-02

One row, `access_version.version`, that every committed change to what the policy
reads moves on: tokens (revocation, expiry, scopes), users (suspension, second
factor), roles, grants, agreement acceptances, organisations, memberships and their
agreements, models, release states (stage change, halt), revisions and files. The
download fast path keeps a per-process cache of facts and its one writing statement
checks this number, so a change committed before that statement is always honoured
(downloads/fastcache.py).

PostgreSQL only (the fast path runs on nothing else): constraint triggers deferred to
the end of the transaction, so the row is locked only while the transaction commits,
and moved once per transaction however many rows it changed. A plain trigger catches
TRUNCATE, which constraint triggers cannot.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None

# table: the events that change what the policy reads.
WATCHED = {
    "api_tokens": (
        "INSERT OR DELETE OR UPDATE OF user_id, token_hash, scopes, expires_at, revoked_at"
    ),
    "users": "INSERT OR DELETE OR UPDATE OF email, suspended_at, totp_secret, totp_enabled_at",
    "user_roles": "INSERT OR DELETE OR UPDATE",
    "grants": "INSERT OR DELETE OR UPDATE",
    "agreement_acceptances": "INSERT OR DELETE OR UPDATE",
    "organizations": "INSERT OR DELETE OR UPDATE",
    "memberships": "INSERT OR DELETE OR UPDATE",
    "org_agreements": "INSERT OR DELETE OR UPDATE",
    "models": "INSERT OR DELETE OR UPDATE",
    "release_states": "INSERT OR DELETE OR UPDATE",
    "revisions": "INSERT OR DELETE OR UPDATE",
    "files": "INSERT OR DELETE OR UPDATE",
}

# Once per transaction: the setting lives until the transaction ends.
BUMP_FUNCTION = """
CREATE FUNCTION access_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('distserver.access_bumped', true) IS DISTINCT FROM
       txid_current()::text THEN
        UPDATE access_version SET version = version + 1 WHERE id = 1;
        PERFORM set_config('distserver.access_bumped', txid_current()::text, true);
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade():
    table = op.create_table(
        "access_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_version"),
    )
    op.bulk_insert(table, [{"id": 1, "version": 1}])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(BUMP_FUNCTION)
    for name, events in WATCHED.items():
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {name}_access_version AFTER {events} ON {name} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION access_version_bump()"
        )
        op.execute(
            f"CREATE TRIGGER {name}_access_version_truncate AFTER TRUNCATE ON {name} "
            "FOR EACH STATEMENT EXECUTE FUNCTION access_version_bump()"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {name}_access_version_truncate ON {name}")
            op.execute(f"DROP TRIGGER IF EXISTS {name}_access_version ON {name}")
        op.execute("DROP FUNCTION IF EXISTS access_version_bump()")
    op.drop_table("access_version")
