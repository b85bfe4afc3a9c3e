"""task SLA warning, breach and pause

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sla_warn_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('sla_breached_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('sla_paused_at', UTCDateTime(), nullable=True))
        batch_op.create_index('ix_human_task_status_due', ['status', 'due_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_status_due')
        batch_op.drop_column('sla_paused_at')
        batch_op.drop_column('sla_breached_at')
        batch_op.drop_column('sla_warn_at')

