"""konvertering: how each archival copy was made

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "konvertering",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dokumentobjekt_id", sa.Integer(), nullable=False),
        sa.Column("konvertertDato", sa.DateTime(timezone=True), nullable=False),
        sa.Column("konvertertAv", sa.String(length=200), nullable=False),
        sa.Column("konvertertFraFormat", sa.String(length=80), nullable=False),
        sa.Column("konvertertTilFormat", sa.String(length=80), nullable=False),
        sa.Column("konverteringsverktoey", sa.Text(), nullable=True),
        sa.Column("konverteringskommentar", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["dokumentobjekt_id"], ["dokumentobjekt.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("konvertering", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_konvertering_dokumentobjekt_id"), ["dokumentobjekt_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("konvertering", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_konvertering_dokumentobjekt_id"))
    op.drop_table("konvertering")
