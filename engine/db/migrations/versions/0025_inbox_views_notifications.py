"""inbox: saved (personal and team) inbox views, staff notifications and each person's notification settings, staff
messages in the outbox

Revision ID: 0025
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbox_view',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('shared_group', sa.String(length=128), nullable=True),
    sa.Column('query', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_view')),
    sa.UniqueConstraint('owner', 'name', name=op.f('uq_inbox_view_owner_name'))
    )
    op.create_index('ix_inbox_view_shared_group', 'inbox_view', ['shared_group'], unique=False)
    op.create_table('staff_notification',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('recipient', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('task_id', sa.Uuid(), nullable=True),
    sa.Column('title', sa.String(length=512), nullable=False),
    sa.Column('dedupe_key', sa.String(length=128), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_notification')),
    sa.UniqueConstraint('recipient', 'dedupe_key', name=op.f('uq_staff_notification_recipient_dedupe_key'))
    )
    op.create_index('ix_staff_notification_recipient', 'staff_notification', ['recipient', 'read_at', 'id'],
                    unique=False)
    op.create_index('ix_staff_notification_task', 'staff_notification', ['task_id', 'kind'], unique=False)
    op.create_table('staff_notification_setting',
    sa.Column('username', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=256), nullable=True),
    sa.Column('events', sa.String(length=256), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_staff_notification_setting'))
    )
    with op.batch_alter_table('outbox_message') as batch:
        batch.add_column(sa.Column('recipient_kind', sa.String(length=16), server_default='customer', nullable=False))
        batch.add_column(sa.Column('staff_user', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message') as batch:
        batch.drop_column('staff_user')
        batch.drop_column('recipient_kind')
    op.drop_table('staff_notification_setting')
    op.drop_index('ix_staff_notification_task', table_name='staff_notification')
    op.drop_index('ix_staff_notification_recipient', table_name='staff_notification')
    op.drop_table('staff_notification')
    op.drop_index('ix_inbox_view_shared_group', table_name='inbox_view')
    op.drop_table('inbox_view')
