"""applications, organisations, webhooks

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column:
    return sa.Column("id", BIG_ID, autoincrement=True, nullable=False)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade():
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "applications",
        _id(),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("model_id", BIG_ID, nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("agreement_sha256", sa.String(length=64), nullable=True),
        sa.Column("agreement_version", sa.String(length=32), nullable=True),
        sa.Column("renewal_of_id", BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", BIG_ID, nullable=True),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("grant_id", BIG_ID, nullable=True),
        _fk("applications", "user_id", "users"),
        _fk("applications", "model_id", "models"),
        _fk("applications", "renewal_of_id", "grants"),
        _fk("applications", "decided_by_id", "users"),
        _fk("applications", "grant_id", "grants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
    )
    op.create_index(
        "ix_applications_status_created", "applications", ["status", "created_at"], unique=False
    )
    op.create_index(
        "ix_applications_user_model_tier",
        "applications",
        ["user_id", "model_id", "tier"],
        unique=False,
    )

    op.create_table(
        "organizations",
        _id(),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", BIG_ID, nullable=True),
        _fk("organizations", "created_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("slug", name=op.f("uq_organizations_slug")),
    )
    op.create_table(
        "memberships",
        _id(),
        sa.Column("organization_id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by_id", BIG_ID, nullable=True),
        _fk("memberships", "organization_id", "organizations"),
        _fk("memberships", "user_id", "users"),
        _fk("memberships", "added_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint(
            "organization_id", "user_id", name=op.f("uq_memberships_organization_id")
        ),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"], unique=False)

    op.create_table(
        "org_agreements",
        _id(),
        sa.Column("organization_id", BIG_ID, nullable=False),
        sa.Column("agreement", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("signed_by", sa.String(length=200), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by_id", BIG_ID, nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        _fk("org_agreements", "organization_id", "organizations"),
        _fk("org_agreements", "recorded_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_agreements")),
    )
    op.create_index(
        "ix_org_agreements_organization_id", "org_agreements", ["organization_id"], unique=False
    )

    op.create_table(
        "webhooks",
        _id(),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("events", sa.String(length=2000), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", BIG_ID, nullable=True),
        _fk("webhooks", "created_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_table(
        "webhook_deliveries",
        _id(),
        sa.Column("webhook_id", BIG_ID, nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        _fk("webhook_deliveries", "webhook_id", "webhooks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_webhook_id", "webhook_deliveries", ["webhook_id"], unique=False
    )
    op.create_index(
        "ix_webhook_deliveries_status_next",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )


def downgrade():
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_table("org_agreements")
    op.drop_table("memberships")
    op.drop_table("organizations")
    op.drop_table("applications")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
