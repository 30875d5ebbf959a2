"""dpop proofs: the jti of every DPoP proof presented, shared by the API replicas

Revision ID: 0009_dpop_proofs
Revises: 0008_practices
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009_dpop_proofs'
down_revision: str | None = '0008_practices'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dpop_proofs',
    sa.Column('jti_sha256', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('jti_sha256', name=op.f('pk_dpop_proofs'))
    )
    with op.batch_alter_table('dpop_proofs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dpop_proofs_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dpop_proofs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dpop_proofs_expires_at'))

    op.drop_table('dpop_proofs')
