"""archival gaps and message ids: a document kept without archival copy, and what a journalpost's e-mail was

A document that could not get an archival copy is journaled as received,
with the reason in dokumentbeskrivelse.archival_gap (NULL: it has its
Arkivformat). journalpost.message_id is the Message-ID of the e-mail it was
made from, so that a bounce or a read receipt finds the case it is about.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dokumentbeskrivelse", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archival_gap", sa.Text(), nullable=True))
    with op.batch_alter_table("journalpost", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.Text(), nullable=True))
        batch_op.create_index("ix_journalpost_message_id", ["message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("journalpost", schema=None) as batch_op:
        batch_op.drop_index("ix_journalpost_message_id")
        batch_op.drop_column("message_id")
    with op.batch_alter_table("dokumentbeskrivelse", schema=None) as batch_op:
        batch_op.drop_column("archival_gap")
