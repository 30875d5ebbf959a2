"""integrations: webhook delivery on the outbox, record-system answer on the journal

Revision ID: 0003_integrations
Revises: 0002_copayment
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003_integrations'
down_revision: str | None = '0002_copayment'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('failed_status', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_status', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('external_id', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('external_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.drop_column('external_at')
        batch_op.drop_column('external_id')
        batch_op.drop_column('external_status')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('failed_at')
        batch_op.drop_column('failed_status')
        batch_op.drop_column('attempts')
