"""sessions: server-side web sessions, login throttle counters, API token expiry, TOTP second factor

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from engine.clock import SystemClock
from engine.db.base import UTCDateTime

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

# Tokens made before expiry existed get the default lifetime from the upgrade on, not from their creation: an
# integration is not cut off by the upgrade itself.
TOKEN_TTL = timedelta(days=90)


def upgrade() -> None:
    op.create_table('web_session',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=128), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_session_token_hash'))
    )
    op.create_index('ix_web_session_subject', 'web_session', ['kind', 'subject'], unique=False)
    op.create_index('ix_web_session_expires', 'web_session', ['expires_at'], unique=False)
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', UTCDateTime(), nullable=False),
    sa.Column('blocked_until', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle'))
    )
    with op.batch_alter_table('api_token') as batch:
        batch.add_column(sa.Column('expires_at', UTCDateTime(), nullable=True))
    with op.batch_alter_table('app_user') as batch:
        batch.add_column(sa.Column('totp_secret', sa.String(length=256), nullable=True))
        batch.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))
    expires = SystemClock().now() + TOKEN_TTL  # migrations run outside an engine context: the machine's clock
    token = sa.table('api_token', sa.column('expires_at', UTCDateTime()))
    op.execute(token.update().where(token.c.expires_at.is_(None)).values(expires_at=expires))


def downgrade() -> None:
    with op.batch_alter_table('app_user') as batch:
        batch.drop_column('totp_last_step')
        batch.drop_column('totp_secret')
    with op.batch_alter_table('api_token') as batch:
        batch.drop_column('expires_at')
    op.drop_table('login_throttle')
    op.drop_index('ix_web_session_expires', table_name='web_session')
    op.drop_index('ix_web_session_subject', table_name='web_session')
    op.drop_table('web_session')
