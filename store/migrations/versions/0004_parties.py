"""parties: patient relations, clinician absences, representatives on messages, billed clinician

Revision ID: 0004_parties
Revises: 0003_integrations
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_parties'
down_revision: str | None = '0003_integrations'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('patient_relations',
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('clinician_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('patient_id', 'clinician_id', name=op.f('pk_patient_relations'))
    )
    op.create_table('clinician_absences',
    sa.Column('clinician_id', sa.String(length=64), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('clinician_id', 'starts_on', name=op.f('pk_clinician_absences'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('representative_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('representative_relation', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('representative_relation')
        batch_op.drop_column('representative_id')
    op.drop_table('clinician_absences')
    op.drop_table('patient_relations')
