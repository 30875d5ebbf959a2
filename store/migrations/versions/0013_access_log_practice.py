"""access_log_practice: an access log entry names the practice a record system read for

Revision ID: 0013_access_log_practice
Revises: 0012_redeliveries
Create Date: 2026-12-07 17:00:00

A record system's client id can serve many practices (one vendor, one client), so its reads
are told apart by the practice its token names. Empty for every other reader, and for entries
written before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013_access_log_practice'
down_revision: str | None = '0012_redeliveries'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('access_log', sa.Column('practice_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('access_log', 'practice_id')
