"""release gates (evaluations, sign-offs, scheduled promotions)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "release_evaluations",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("model_id", BIG_ID, nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("revision_id", BIG_ID, nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("report", sa.String(length=500), nullable=False),
        sa.Column("recorded_by_id", BIG_ID, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_release_evaluations_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["revisions.id"],
            name=op.f("fk_release_evaluations_revision_id_revisions"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["users.id"],
            name=op.f("fk_release_evaluations_recorded_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_evaluations")),
    )
    op.create_index(
        "ix_release_evaluations_model_id", "release_evaluations", ["model_id"], unique=False
    )
    op.create_table(
        "release_signoffs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("model_id", BIG_ID, nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("revision_id", BIG_ID, nullable=True),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_release_signoffs_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["revisions.id"],
            name=op.f("fk_release_signoffs_revision_id_revisions"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_release_signoffs_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_signoffs")),
    )
    op.create_index("ix_release_signoffs_model_id", "release_signoffs", ["model_id"], unique=False)


def downgrade():
    op.drop_index("ix_release_signoffs_model_id", table_name="release_signoffs")
    op.drop_table("release_signoffs")
    op.drop_index("ix_release_evaluations_model_id", table_name="release_evaluations")
    op.drop_table("release_evaluations")
