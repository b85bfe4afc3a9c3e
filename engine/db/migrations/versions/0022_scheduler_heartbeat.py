"""scheduler heartbeats: one row per job and scheduler process

Revision ID: 0022
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scheduler_heartbeat',
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=128), nullable=False),
    sa.Column('beat_at', UTCDateTime(), nullable=False),
    sa.Column('last_start_at', UTCDateTime(), nullable=True),
    sa.Column('last_success_at', UTCDateTime(), nullable=True),
    sa.Column('last_error_at', UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_due_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('job', 'node', name=op.f('pk_scheduler_heartbeat'))
    )


def downgrade() -> None:
    op.drop_table('scheduler_heartbeat')
