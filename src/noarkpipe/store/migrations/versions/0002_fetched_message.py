"""fetched_message: mailbox messages already taken in

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 14:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fetched_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arkivskaper_id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=500), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("message_key", sa.String(length=300), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("inbox_name", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["arkivskaper_id"], ["arkivskaper.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailbox", "uidvalidity", "message_key"),
    )
    with op.batch_alter_table("fetched_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fetched_message_arkivskaper_id"), ["arkivskaper_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fetched_message_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fetched_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fetched_message_sha256"))
        batch_op.drop_index(batch_op.f("ix_fetched_message_arkivskaper_id"))
    op.drop_table("fetched_message")
