"""task lists sorted by priority: index on (status, priority DESC, created_at)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_human_task_status_priority', 'human_task', ['status', sa.text('priority DESC'), 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_human_task_status_priority', table_name='human_task')
