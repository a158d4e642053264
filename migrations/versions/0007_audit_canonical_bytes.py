"""audit seals keep the canonical bytes they chained

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

The sealer stores, next to each seal, the exact bytes it hashed (the event's canonical
encoding, distserver/audit/chain.py), so that `distserver audit verify` checks the chain
with hashlib alone and compares those bytes with the event columns in one set-based
query. Seals written before this revision keep NULL: verify re-encodes their events
from the columns, as `--deep` does for all of them. Adding a column does not touch a
row, so the append-only triggers on audit_seals are left as they are.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_seals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("canonical", sa.LargeBinary(), nullable=True))


def downgrade():
    with op.batch_alter_table("audit_seals", schema=None) as batch_op:
        batch_op.drop_column("canonical")
