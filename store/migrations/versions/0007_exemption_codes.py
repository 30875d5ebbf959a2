"""exemption codes on charges: the code (and the note of `other`) replaces the free-text reason

Revision ID: 0007_exemption_codes
Revises: 0006_figure_counts
Create Date: 2026-12-01 10:00:00

Before this revision a charge kept a free-text `reason`: `under_16`, `frikort`, or the text
the portal sent as the patient's exemption. An `exempt` charge now keeps a code: `under_16`
becomes `under_age`, a reason that already is a code stays it, any other text becomes `other`
with the text as its note. A reason on a charge that was not `exempt` (a non-billable reply
of a patient who would have been exempt) exempted nothing and is not carried over.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_exemption_codes'
down_revision: str | None = '0006_figure_counts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The codes as of this revision (domain.parties.ExemptionCode).
CODES = (
    'under_age', 'frikort', 'psychotherapy_under_18', 'occupational_injury', 'military_service',
    'pregnancy_checkup', 'notifiable_infectious_disease', 'violence_or_abuse', 'other',
)
_CODE_LIST = ', '.join(f"'{code}'" for code in CODES)
_EXEMPT = "status = 'exempt' AND reason IS NOT NULL AND trim(reason) <> ''"

UPGRADE = f"""
UPDATE charges SET
    exemption = CASE
        WHEN trim(reason) = 'under_16' THEN 'under_age'
        WHEN trim(reason) IN ({_CODE_LIST}) THEN trim(reason)
        ELSE 'other' END,
    exemption_note = CASE
        WHEN trim(reason) = 'under_16' OR trim(reason) IN ({_CODE_LIST}) THEN NULL
        ELSE trim(reason) END
WHERE {_EXEMPT}
"""

# Back to one text: `under_age` as the old code wrote it, `other` as its note.
DOWNGRADE = """
UPDATE charges SET reason = CASE
    WHEN exemption = 'under_age' THEN 'under_16'
    WHEN exemption = 'other' THEN coalesce(exemption_note, 'other')
    ELSE exemption END
WHERE exemption IS NOT NULL
"""


def upgrade() -> None:
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exemption', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('exemption_note', sa.String(length=200), nullable=True))
    op.execute(UPGRADE)
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.drop_column('reason')


def downgrade() -> None:
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.String(length=200), nullable=True))
    op.execute(DOWNGRADE)
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.drop_column('exemption_note')
        batch_op.drop_column('exemption')
