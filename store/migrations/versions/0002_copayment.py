"""co-payment: frikort register, specialist flag in the directory, billed clinician on charges

Revision ID: 0002_copayment
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_copayment"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "frikort",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "valid_from", name=op.f("pk_frikort")),
    )
    with op.batch_alter_table("clinicians", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "specialist_in_general_practice",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("billed_clinician_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("specialist_rate", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.drop_column("specialist_rate")
        batch_op.drop_column("billed_clinician_id")
    with op.batch_alter_table("clinicians", schema=None) as batch_op:
        batch_op.drop_column("specialist_in_general_practice")
    op.drop_table("frikort")
