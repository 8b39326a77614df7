"""desk_user and desk_grant: who may log in to the review desk, and what each may do per arkivskaper

The review desk (`noarkpipe desk`) is a web app where archivists decide the
review queue. Each user has a scrypt password hash and, per municipality, a
grant: leser (may look) or arkivar (may decide), and whether screened
(skjermet) content is shown to them. Users are disabled, never deleted.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "desk_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("arkivskaper", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("cleared", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["desk_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "arkivskaper"),
    )


def downgrade() -> None:
    op.drop_table("desk_grant")
    op.drop_table("desk_user")
