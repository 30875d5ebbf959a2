"""record_system_auth: a practice's record system authenticated by a signed client assertion

Revision ID: 0016_record_system_auth
Revises: 0015_practice_accepts
Create Date: 2026-12-07 20:00:00

A record system kept before has null auth, which reads as client_secret_basic (what it used),
no signing key and no DPoP: its entries go on exactly as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016_record_system_auth'
down_revision: str | None = '0015_practice_accepts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fhir_auth', sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column('fhir_client_assertion_key_ref', sa.String(length=128), nullable=True)
        )
        batch_op.add_column(
            sa.Column('fhir_dpop', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.drop_column('fhir_dpop')
        batch_op.drop_column('fhir_client_assertion_key_ref')
        batch_op.drop_column('fhir_auth')
