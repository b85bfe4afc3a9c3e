"""customer 360: products, accounts, holdings, tier history, risk assessments, imports

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_import_run',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('processed', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('finished_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_import_run'))
    )
    op.create_table('product',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('family', sa.String(length=16), nullable=False),
    sa.Column('risk_level', sa.Integer(), nullable=False),
    sa.Column('issuer_risk_level', sa.Integer(), nullable=True),
    sa.Column('issuer', sa.String(length=128), nullable=True),
    sa.Column('private', sa.Boolean(), nullable=False),
    sa.Column('min_amount', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('cooling_off_hours', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_product'))
    )
    op.create_table('customer_account',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('number_last4', sa.String(length=4), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('balance', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('avg_daily_balance', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_customer_account_customer_id_customer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_account')),
    sa.UniqueConstraint('external_id', name=op.f('uq_customer_account_external_id'))
    )
    with op.batch_alter_table('customer_account', schema=None) as batch_op:
        batch_op.create_index('ix_customer_account_customer', ['customer_id', 'kind'], unique=False)

    op.create_table('customer_holding',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('product_code', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('bought_on', sa.Date(), nullable=False),
    sa.Column('matures_on', sa.Date(), nullable=True),
    sa.Column('sold_by', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_customer_holding_customer_id_customer'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_code'], ['product.code'], name=op.f('fk_customer_holding_product_code_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_holding'))
    )
    with op.batch_alter_table('customer_holding', schema=None) as batch_op:
        batch_op.create_index('ix_customer_holding_customer', ['customer_id', 'status'], unique=False)
        batch_op.create_index('ix_customer_holding_maturity', ['status', 'matures_on'], unique=False)

    op.create_table('risk_assessment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('questionnaire_version', sa.String(length=32), nullable=False),
    sa.Column('assessed_at', UTCDateTime(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('assessed_by', sa.String(length=128), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_risk_assessment_customer_id_customer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_assessment'))
    )
    with op.batch_alter_table('risk_assessment', schema=None) as batch_op:
        batch_op.create_index('ix_risk_assessment_customer', ['customer_id', 'assessed_at'], unique=False)

    op.create_table('tier_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('tier', sa.String(length=16), nullable=False),
    sa.Column('previous_tier', sa.String(length=16), nullable=True),
    sa.Column('aum', sa.Numeric(precision=18, scale=2), nullable=False, server_default='0'),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('changed_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_tier_history_customer_id_customer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tier_history'))
    )
    with op.batch_alter_table('tier_history', schema=None) as batch_op:
        batch_op.create_index('ix_tier_history_customer', ['customer_id', 'changed_at'], unique=False)

    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('aum', sa.Numeric(precision=18, scale=2), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('tier_below_since', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('risk_level', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('risk_valid_until', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('professional_investor', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('qualified_investor', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('customer_since', sa.Date(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('customer_since')
        batch_op.drop_column('qualified_investor')
        batch_op.drop_column('professional_investor')
        batch_op.drop_column('risk_valid_until')
        batch_op.drop_column('risk_level')
        batch_op.drop_column('tier_below_since')
        batch_op.drop_column('aum')

    with op.batch_alter_table('tier_history', schema=None) as batch_op:
        batch_op.drop_index('ix_tier_history_customer')

    op.drop_table('tier_history')
    with op.batch_alter_table('risk_assessment', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_assessment_customer')

    op.drop_table('risk_assessment')
    with op.batch_alter_table('customer_holding', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_holding_maturity')
        batch_op.drop_index('ix_customer_holding_customer')

    op.drop_table('customer_holding')
    with op.batch_alter_table('customer_account', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_account_customer')

    op.drop_table('customer_account')
    op.drop_table('product')
    op.drop_table('customer_import_run')
