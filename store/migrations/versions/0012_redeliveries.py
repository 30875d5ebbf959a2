"""redeliveries: how often an operator had a refused notification or journal entry sent again

Revision ID: 0012_redeliveries
Revises: 0011_practice_endpoints
Create Date: 2026-12-02 10:00:00

The count names each redelivery (its workflow id carries it), so a repeated request while one
runs finds that one instead of starting a second.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012_redeliveries'
down_revision: str | None = '0011_practice_endpoints'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('notifications', 'journal_entries')


# Plain ALTER TABLE, not batch mode: SQLite's batch copy of `notifications` would drop the
# figure triggers on it (0006_figure_counts); SQLite adds and drops a column in place since 3.35.
def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table, sa.Column('redeliveries', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, 'redeliveries')
