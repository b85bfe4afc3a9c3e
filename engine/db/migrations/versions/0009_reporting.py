"""reporting: monthly AUM snapshot per customer, and the indexes the dashboard queries walk

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# (index, table, columns) on the tables other modules own; declared in engine/reporting/models.py.
INDEXES = (
    ('ix_human_task_status_assignee_due', 'human_task', ['status', 'assignee', 'due_at']),
    ('ix_human_task_process_status_created', 'human_task',
     ['process_key', 'status', 'created_at', 'task_name', 'instance_id']),
    ('ix_human_task_process_completed', 'human_task',
     ['process_key', 'completed_at', 'task_name', 'created_at', 'status']),
    ('ix_process_instance_definition_started', 'process_instance', ['definition_id', 'started_at', 'status', 'id']),
    ('ix_process_instance_definition_ended', 'process_instance',
     ['definition_id', 'ended_at', 'started_at', 'status']),
    ('ix_complaint_received', 'complaint', ['received_at']),
    ('ix_complaint_answered', 'complaint', ['answered_at']),
    ('ix_complaint_review_requested', 'complaint', ['review_requested_at']),
    ('ix_sales_lead_created', 'sales_lead', ['created_at']),
    ('ix_outbox_message_template_created', 'outbox_message', ['template', 'created_at', 'status', 'status_reason']),
    ('ix_customer_branch_manager', 'customer', ['branch', 'manager']),
)


def upgrade() -> None:
    op.create_table('aum_snapshot',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('manager', sa.String(length=128), nullable=True),
    sa.Column('branch', sa.String(length=64), nullable=True),
    sa.Column('tier', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('aum', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('taken_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_aum_snapshot_customer_id_customer'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('month', 'customer_id', name=op.f('pk_aum_snapshot'))
    )
    op.create_index('ix_aum_snapshot_month_manager', 'aum_snapshot', ['month', 'manager'], unique=False)
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index('ix_aum_snapshot_month_manager', table_name='aum_snapshot')
    op.drop_table('aum_snapshot')
