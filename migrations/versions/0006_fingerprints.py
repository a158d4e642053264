"""fingerprinted copies

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

One row per marked copy of a weights blob made for one recipient under one master
key (distserver/fingerprint/models.py). Rows outlive their copies (removed_at), so a
leak can be traced to anyone who ever received one.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "fingerprint_copies",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("model_id", BIG_ID, nullable=False),
        sa.Column("revision_id", BIG_ID, nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("original_sha256", sa.String(length=64), nullable=False),
        sa.Column("copy_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("strength", sa.Float(), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_fingerprint_copies_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_fingerprint_copies_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["revisions.id"],
            name=op.f("fk_fingerprint_copies_revision_id_revisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fingerprint_copies")),
        sa.UniqueConstraint(
            "user_id", "original_sha256", "key_id", name=op.f("uq_fingerprint_copies_user_id")
        ),
    )
    op.create_index(
        "ix_fingerprint_copies_original_sha256",
        "fingerprint_copies",
        ["original_sha256"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_fingerprint_copies_original_sha256", table_name="fingerprint_copies")
    op.drop_table("fingerprint_copies")
