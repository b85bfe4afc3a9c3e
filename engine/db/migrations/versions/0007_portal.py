"""customer portal: one-time codes and rate-limit hits

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('portal_code',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('phone_index', sa.String(length=64), nullable=False),
    sa.Column('ip_index', sa.String(length=64), nullable=True),
    sa.Column('customer_id', sa.String(length=32), nullable=True),
    sa.Column('salt', sa.String(length=32), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('outbox_key', sa.String(length=200), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('used_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_code'))
    )
    op.create_index('ix_portal_code_phone', 'portal_code', ['phone_index', 'created_at'], unique=False)
    op.create_index('ix_portal_code_ip', 'portal_code', ['ip_index', 'created_at'], unique=False)
    op.create_table('rate_hit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bucket', sa.String(length=128), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_hit'))
    )
    op.create_index('ix_rate_hit_bucket', 'rate_hit', ['bucket', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_rate_hit_bucket', table_name='rate_hit')
    op.drop_table('rate_hit')
    op.drop_index('ix_portal_code_ip', table_name='portal_code')
    op.drop_index('ix_portal_code_phone', table_name='portal_code')
    op.drop_table('portal_code')
