"""designer: a process version's status (active, suspended: no new instances, retired: also hidden from start lists)

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('process_definition') as batch:
        batch.add_column(sa.Column('status', sa.String(length=16), nullable=False, server_default='active'))


def downgrade() -> None:
    with op.batch_alter_table('process_definition') as batch:
        batch.drop_column('status')
