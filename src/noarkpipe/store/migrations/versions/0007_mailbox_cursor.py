"""mailbox_cursor: where the last complete read of a mailbox folder ended (Microsoft Graph's deltaLink)

A Graph mailbox is read by delta query: each complete round ends in a
deltaLink that asks the next run only for what changed since. Losing a
row costs one full listing of the folder, not a second copy of any message
(fetched_message decides that).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailbox_cursor",
        sa.Column("mailbox", sa.String(length=500), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mailbox"),
    )


def downgrade() -> None:
    op.drop_table("mailbox_cursor")
