"""command keys: Idempotency-Key on every command, its first answer, and its expiry

Revision ID: 0005_command_keys
Revises: 0004_parties
Create Date: 2026-11-26 13:55:00
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision: str = '0005_command_keys'
down_revision: str | None = '0004_parties'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Keys registered before this revision (creates only) are kept as long as new ones.
KEPT_FOR = timedelta(hours=24)


def upgrade() -> None:
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.alter_column(
            'key', existing_type=sa.String(length=128), type_=sa.String(length=255),
            existing_nullable=False,
        )
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('status_code', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('answer', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True))

    keys = sa.table(
        'idempotency_keys',
        sa.column('caller', sa.String()),
        sa.column('key', sa.String()),
        sa.column('created_at', sa.DateTime(timezone=True)),
        sa.column('expires_at', sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    for caller, key, created_at in connection.execute(
        sa.select(keys.c.caller, keys.c.key, keys.c.created_at)
    ).all():
        connection.execute(
            keys.update()
            .where(keys.c.caller == caller, keys.c.key == key)
            .values(expires_at=created_at + KEPT_FOR)
        )

    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.alter_column(
            'expires_at', existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.create_index(
            batch_op.f('ix_idempotency_keys_expires_at'), ['expires_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_keys_expires_at'))
        batch_op.drop_column('answered_at')
        batch_op.drop_column('answer')
        batch_op.drop_column('status_code')
        batch_op.drop_column('expires_at')
        batch_op.alter_column(
            'key', existing_type=sa.String(length=255), type_=sa.String(length=128),
            existing_nullable=False,
        )
