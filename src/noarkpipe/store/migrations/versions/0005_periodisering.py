"""periodisering: closing an arkivdel and its cases, the references between periods

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("arkivdel", schema=None) as batch_op:
        batch_op.add_column(sa.Column("avsluttetDato", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("avsluttetAv", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("referanseForloeper", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("referanseArvtaker", sa.String(length=36), nullable=True))
    with op.batch_alter_table("saksmappe", schema=None) as batch_op:
        batch_op.add_column(sa.Column("avsluttetDato", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("avsluttetAv", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("saksmappe", schema=None) as batch_op:
        for name in ("avsluttetAv", "avsluttetDato"):
            batch_op.drop_column(name)
    with op.batch_alter_table("arkivdel", schema=None) as batch_op:
        for name in ("referanseArvtaker", "referanseForloeper", "avsluttetAv", "avsluttetDato"):
            batch_op.drop_column(name)
