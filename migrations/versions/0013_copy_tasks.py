"""copies prepared ahead

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01

One row per marked copy a recipient will need (one weights blob, one recipient), made
by a background job before any request asks for it (distserver/fingerprint/
preparation.py): its state and progress, for the doors' "being prepared" answers and
the staff pages.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "fingerprint_copy_tasks",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("model_id", BIG_ID, nullable=False),
        sa.Column("revision_id", BIG_ID, nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("original_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("bytes_done", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_fingerprint_copy_tasks_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_fingerprint_copy_tasks_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["revisions.id"],
            name=op.f("fk_fingerprint_copy_tasks_revision_id_revisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fingerprint_copy_tasks")),
        sa.UniqueConstraint(
            "user_id", "original_sha256", name=op.f("uq_fingerprint_copy_tasks_user_id")
        ),
    )
    op.create_index(
        "ix_fingerprint_copy_tasks_model_id_state",
        "fingerprint_copy_tasks",
        ["model_id", "state"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_fingerprint_copy_tasks_model_id_state", table_name="fingerprint_copy_tasks")
    op.drop_table("fingerprint_copy_tasks")
