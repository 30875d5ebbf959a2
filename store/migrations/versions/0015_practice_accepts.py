"""practice_accepts: a practice's own switch for new e-consultations

Revision ID: 0015_practice_accepts
Revises: 0014_claim_set_aside
Create Date: 2026-12-07 18:00:00

Every practice kept before accepts, as it did: the switch is on until an admin turns it off.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015_practice_accepts'
down_revision: str | None = '0014_claim_set_aside'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'accepts_econsultations', sa.Boolean(), server_default=sa.true(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.drop_column('accepts_econsultations')
