"""revision tags

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-01

Named, immutable pointers to a model's revisions (`models publish --tag v1.0`), which
the Hugging Face door lists as git tags and resolves as revisions. A tag names one
revision of one model and is never moved (distserver/catalog/tags.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0008"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "revision_tags",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("model_id", BIG_ID, nullable=False),
        sa.Column("revision_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_revision_tags_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"], ["revisions.id"], name=op.f("fk_revision_tags_revision_id_revisions")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_revision_tags_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revision_tags")),
        sa.UniqueConstraint("model_id", "name", name=op.f("uq_revision_tags_model_id")),
    )


def downgrade():
    op.drop_table("revision_tags")
