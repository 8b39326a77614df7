"""skjerming on saksmappe and journalpost, classification note

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 16:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SKJERMING = ("tilgangsrestriksjon", "skjermingshjemmel", "skjermingMetadata")


def _columns():
    return [
        sa.Column("tilgangsrestriksjon", sa.String(length=40), nullable=True),
        sa.Column("skjermingshjemmel", sa.Text(), nullable=True),
        sa.Column("skjermingMetadata", sa.Text(), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("saksmappe", schema=None) as batch_op:
        for column in _columns():
            batch_op.add_column(column)
    with op.batch_alter_table("journalpost", schema=None) as batch_op:
        for column in _columns():
            batch_op.add_column(column)
        batch_op.add_column(sa.Column("classification_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("journalpost", schema=None) as batch_op:
        batch_op.drop_column("classification_note")
        for name in SKJERMING:
            batch_op.drop_column(name)
    with op.batch_alter_table("saksmappe", schema=None) as batch_op:
        for name in SKJERMING:
            batch_op.drop_column(name)
