"""notification_details: what the copayment_settled and journal_entry_refused events carry

Revision ID: 0017_notification_details
Revises: 0016_record_system_auth
Create Date: 2026-12-07 20:00:00

The settled co-payment and the refused entry (key and status) are kept on the outbox row, so
an operator's redelivery sends the body that was first sent. Rows of the other events leave
them empty.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017_notification_details'
down_revision: str | None = '0016_record_system_auth'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ('copayment', 'journal_entry')


# Plain ALTER TABLE, not batch mode: SQLite's batch copy of `notifications` would drop the
# figure triggers on it (0006_figure_counts).
def upgrade() -> None:
    for column in COLUMNS:
        op.add_column('notifications', sa.Column(column, sa.JSON(), nullable=True))


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_column('notifications', column)
