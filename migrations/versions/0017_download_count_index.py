"""download count index

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01

An index on audit events by (model, tag, occurred_at): every download count (the
model's statistics, the Hugging Face door's `downloads`, asked for on every
`model_info`) reads one model's `download:link:issued` events of a window, which this
index finds without reading the model's other events.
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_audit_events_model_tag_occurred",
        "audit_events",
        ["model", "tag", "occurred_at"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_audit_events_model_tag_occurred", table_name="audit_events")
