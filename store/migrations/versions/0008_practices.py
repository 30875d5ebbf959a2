"""practices: a practice's own decline text; who really wrote a journal entry, and to whom

Revision ID: 0008_practices
Revises: 0007_exemption_codes

Journal entries made before this revision keep null in the new columns: the record system
then gets them as it did before (the author as recorded, no recipient).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008_practices'
down_revision: str | None = '0007_exemption_codes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('practices',
    sa.Column('practice_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('decline_message', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('practice_id', name=op.f('pk_practices'))
    )
    # No triggers watch journal_entries, so SQLite's batch mode loses nothing here.
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('representative_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('representative_relation', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('practice_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('recipient_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.drop_column('recipient_id')
        batch_op.drop_column('practice_id')
        batch_op.drop_column('representative_relation')
        batch_op.drop_column('representative_id')
    op.drop_table('practices')
