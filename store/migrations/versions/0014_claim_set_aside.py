"""claim_set_aside: a charge says why the patient's claimed exemption was set aside

Revision ID: 0014_claim_set_aside
Revises: 0013_access_log_practice
Create Date: 2026-12-07 18:10:00

The clinician may overrule or replace the code the portal passed at start, and a claimed code
the patient's age does not fit is ignored (docs/copayment.md). Empty when the claim stood or
there was none, and for charges recorded before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014_claim_set_aside'
down_revision: str | None = '0013_access_log_practice'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('charges', sa.Column('claim_set_aside', sa.String(length=300), nullable=True))


def downgrade() -> None:
    op.drop_column('charges', 'claim_set_aside')
