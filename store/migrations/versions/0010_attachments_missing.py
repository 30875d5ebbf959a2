"""attachments missing: an attachment a restore could not bring back is kept as missing

Revision ID: 0010_attachments_missing
Revises: 0009_dpop_proofs
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010_attachments_missing'
down_revision: str | None = '0009_dpop_proofs'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('missing', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_column('missing')
