"""intake: several signing secrets per channel (rotation) and the signed requests already accepted (replays)

Revision ID: 0021
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('intake_secret',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('secret_encrypted', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=128), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('retired_by', sa.String(length=128), nullable=True),
    sa.Column('retired_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_secret'))
    )
    op.create_index('ix_intake_secret_channel', 'intake_secret', ['channel', 'retired_at'], unique=False)
    op.create_table('intake_seen',
    sa.Column('signature', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('seen_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('signature', name=op.f('pk_intake_seen'))
    )
    op.create_index('ix_intake_seen_expires', 'intake_seen', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_intake_seen_expires', table_name='intake_seen')
    op.drop_table('intake_seen')
    op.drop_index('ix_intake_secret_channel', table_name='intake_secret')
    op.drop_table('intake_secret')
