"""alerts on misuse

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-01

Alerts raised by the rules of tiers/alerts/rules.toml over the sealed audit log, the
evaluation cursors, the brakes alerts put on, and the fetches read from the storage's
own access records (distserver/alerts/).
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0013"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "alerts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("window_key", sa.String(length=64), nullable=False),
        sa.Column("raised_at", WHEN, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_by_id", BIG_ID, nullable=True),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_alerts_decided_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("rule", "principal", "window_key", name=op.f("uq_alerts_rule")),
    )
    op.create_index("ix_alerts_state_raised", "alerts", ["state", "raised_at"])
    op.create_index("ix_alerts_raised_at", "alerts", ["raised_at"])
    op.create_table(
        "alert_cursors",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_seen", BIG_ID, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_cursors")),
    )
    op.create_table(
        "alert_brakes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("token_ids", sa.Text(), nullable=False),
        sa.Column("applied_at", WHEN, nullable=False),
        sa.Column("released_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_brakes_alert_id_alerts")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_alert_brakes_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_brakes")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_alert_brakes_alert_id")),
    )
    op.create_index(op.f("ix_alert_brakes_user_id"), "alert_brakes", ["user_id"])
    op.create_table(
        "link_fetches",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("link_id", sa.String(length=64), nullable=True),
        sa.Column("fetched_at", WHEN, nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("key", sa.String(length=1024), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("bytes_sent", BIG_ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_fetches")),
        sa.UniqueConstraint("source", "request_id", name=op.f("uq_link_fetches_source")),
    )
    op.create_index(op.f("ix_link_fetches_link_id"), "link_fetches", ["link_id"])


def downgrade():
    op.drop_table("link_fetches")
    op.drop_table("alert_brakes")
    op.drop_table("alert_cursors")
    op.drop_table("alerts")
