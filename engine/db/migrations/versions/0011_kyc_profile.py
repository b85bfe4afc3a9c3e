"""customer KYC profile: occupation, income band, source of funds, encrypted address

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('occupation', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('income_band', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('source_of_funds', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('address_enc', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('address_enc')
        batch_op.drop_column('source_of_funds')
        batch_op.drop_column('income_band')
        batch_op.drop_column('occupation')
