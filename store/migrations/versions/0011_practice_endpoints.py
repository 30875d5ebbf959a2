"""practice endpoints: a practice's own webhook and record system, secrets by reference

Revision ID: 0011_practice_endpoints
Revises: 0010_attachments_missing

Practices kept before this revision have null in every new column: their events and journal
entries keep going to the service-wide endpoints, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_practice_endpoints'
down_revision: str | None = '0010_attachments_missing'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # No triggers watch practices, so SQLite's batch mode loses nothing here.
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('webhook_secret_refs', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('fhir_base_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('fhir_token_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('fhir_client_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('fhir_client_secret_ref', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('fhir_scope', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.drop_column('fhir_scope')
        batch_op.drop_column('fhir_client_secret_ref')
        batch_op.drop_column('fhir_client_id')
        batch_op.drop_column('fhir_token_url')
        batch_op.drop_column('fhir_base_url')
        batch_op.drop_column('webhook_secret_refs')
        batch_op.drop_column('webhook_url')
