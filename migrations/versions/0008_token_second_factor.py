"""tokens carry the second factor of the session that made them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

`api_tokens.second_factor`: whether the session (or operator) that created the token
had proved a second factor. Staff actions that need the factor accept a token only
when it is set. Existing tokens get false: nothing recorded that their session proved
it, so staff re-create the tokens they use for such actions.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(
            sa.Column("second_factor", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade():
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("second_factor")
