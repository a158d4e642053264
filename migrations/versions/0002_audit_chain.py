"""audit chain (seals, checkpoints, append-only triggers)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# PostgreSQL only: the log is append-only even for someone with SQL access short of
# dropping the triggers (which itself shows in the PostgreSQL log).
REFUSE_FUNCTION = """
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
TABLES = ("audit_events", "audit_seals", "audit_checkpoints")


def upgrade():
    op.create_table(
        "audit_seals",
        sa.Column("seq", BigId, autoincrement=False, nullable=False),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["audit_events.id"], name="fk_audit_seals_event_id_audit_events"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_seals"),
        sa.UniqueConstraint("event_id", name="uq_audit_seals_event_id"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", BigId, autoincrement=False, nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_checkpoints"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(REFUSE_FUNCTION)
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_seals")
