"""retention: process_instance.archived_at and legal holds

Revision ID: 0028
Revises: 0027
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('process_instance', sa.Column('archived_at', UTCDateTime(timezone=True), nullable=True))
    op.create_table('legal_hold',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject_type', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('placed_by', sa.String(length=128), nullable=False),
    sa.Column('placed_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('released_by', sa.String(length=128), nullable=True),
    sa.Column('released_at', UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_hold')))
    op.create_index('ix_legal_hold_subject', 'legal_hold', ['subject_type', 'subject_id', 'released_at'])


def downgrade() -> None:
    op.drop_index('ix_legal_hold_subject', table_name='legal_hold')
    op.drop_table('legal_hold')
    with op.batch_alter_table('process_instance') as batch:
        batch.drop_column('archived_at')
