"""global search: the search_token table (keyed bigrams of names and complaint texts) and an index on business keys

Revision ID: 0024
Revises: 0018

The table starts empty: ``careflow search reindex`` fills it from the customers and complaints already stored
(it needs the data key, which a migration does not have). From then on the engine keeps it current.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'search_token',
        sa.Column('kind', sa.SmallInteger(), nullable=False),
        sa.Column('token', sa.BigInteger(), nullable=False),
        sa.Column('ref', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'token', 'ref', name=op.f('pk_search_token')),
    )
    op.create_index('ix_search_token_ref', 'search_token', ['kind', 'ref'])
    op.create_index('ix_process_instance_business_key', 'process_instance', ['business_key'])


def downgrade() -> None:
    op.drop_index('ix_process_instance_business_key', table_name='process_instance')
    op.drop_index('ix_search_token_ref', table_name='search_token')
    op.drop_table('search_token')
