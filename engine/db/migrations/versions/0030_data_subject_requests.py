"""data-subject requests (PIPL Arts. 45 and 47; docs/domain.md §3.7)

Revision ID: 0030
Revises: 0028
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_subject_request',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('received_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=128), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('handled_by', sa.String(length=128), nullable=True),
    sa.Column('answered_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('refusal_reason', sa.String(length=32), nullable=True),
    sa.Column('hold_until', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'],
                            name=op.f('fk_data_subject_request_customer_id_customer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_subject_request')))
    op.create_index('ix_dsr_status_due', 'data_subject_request', ['status', 'due_at'])
    op.create_index('ix_dsr_customer', 'data_subject_request', ['customer_id', 'received_at'])


def downgrade() -> None:
    op.drop_index('ix_dsr_customer', table_name='data_subject_request')
    op.drop_index('ix_dsr_status_due', table_name='data_subject_request')
    op.drop_table('data_subject_request')
