"""ekstern_noekkel and saksmappe_part: a sending system's own keys for our cases and journalposts, and the parts of a case

An arkivmelding names its case and its registrering by the fagsystem's own
key (referanseEksternNoekkel). The next message with the same case key joins
the same saksmappe; a registrering key seen before means the message was
registered already and is answered as such, not journaled twice.
saksmappe_part holds the parts a message names for its case (Noark 5 `part`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 08:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ekstern_noekkel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arkivskaper_id", sa.Integer(), nullable=False),
        sa.Column("gjelder", sa.String(length=20), nullable=False),
        sa.Column("fagsystem", sa.String(length=200), nullable=False),
        sa.Column("noekkel", sa.String(length=500), nullable=False),
        sa.Column("saksmappe_id", sa.Integer(), nullable=True),
        sa.Column("journalpost_id", sa.Integer(), nullable=True),
        sa.Column("opprettetDato", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["arkivskaper_id"], ["arkivskaper.id"]),
        sa.ForeignKeyConstraint(["saksmappe_id"], ["saksmappe.id"]),
        sa.ForeignKeyConstraint(["journalpost_id"], ["journalpost.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("arkivskaper_id", "gjelder", "fagsystem", "noekkel"),
    )
    op.create_index("ix_ekstern_noekkel_arkivskaper_id", "ekstern_noekkel", ["arkivskaper_id"])
    op.create_index("ix_ekstern_noekkel_saksmappe_id", "ekstern_noekkel", ["saksmappe_id"])
    op.create_index("ix_ekstern_noekkel_journalpost_id", "ekstern_noekkel", ["journalpost_id"])
    op.create_table(
        "saksmappe_part",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("saksmappe_id", sa.Integer(), nullable=False),
        sa.Column("partNavn", sa.Text(), nullable=False),
        sa.Column("partRolle", sa.String(length=200), nullable=False),
        sa.Column("postadresse", sa.Text(), nullable=True),
        sa.Column("postnummer", sa.String(length=20), nullable=True),
        sa.Column("poststed", sa.String(length=200), nullable=True),
        sa.Column("epostadresse", sa.String(length=320), nullable=True),
        sa.Column("opprettetDato", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["saksmappe_id"], ["saksmappe.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_saksmappe_part_saksmappe_id", "saksmappe_part", ["saksmappe_id"])


def downgrade() -> None:
    op.drop_table("saksmappe_part")
    op.drop_table("ekstern_noekkel")
