"""cross-sell: leads and sales with suitability outcome, cooling-off and post-sale revisit

Also ``human_task.excluded_users`` (the ``excludeUsers`` task property: the seller never takes the
post-sale revisit).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sales_lead',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('product_code', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=256), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('open_key', sa.String(length=80), nullable=True),
    sa.Column('owner', sa.String(length=128), nullable=True),
    sa.Column('contact_outcome', sa.String(length=16), nullable=True),
    sa.Column('suitability', sa.JSON(), nullable=True),
    sa.Column('instance_id', sa.Uuid(), nullable=True),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_sales_lead_customer_id_customer'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_code'], ['product.code'], name=op.f('fk_sales_lead_product_code_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_lead')),
    sa.UniqueConstraint('open_key', name=op.f('uq_sales_lead_open_key'))
    )
    with op.batch_alter_table('sales_lead', schema=None) as batch_op:
        batch_op.create_index('ix_sales_lead_customer', ['customer_id', 'status'], unique=False)
        batch_op.create_index('ix_sales_lead_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sales_lead_instance_id'), ['instance_id'], unique=False)

    op.create_table('sale',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('product_code', sa.String(length=32), nullable=False),
    sa.Column('holding_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('seller', sa.String(length=128), nullable=False),
    sa.Column('sold_at', UTCDateTime(), nullable=False),
    sa.Column('age_at_sale', sa.Integer(), nullable=False),
    sa.Column('customer_level_at_sale', sa.Integer(), nullable=False),
    sa.Column('product_level_at_sale', sa.Integer(), nullable=False),
    sa.Column('suitability_decision', sa.String(length=32), nullable=False),
    sa.Column('suitability', sa.JSON(), nullable=False),
    sa.Column('double_recording_ref', sa.String(length=128), nullable=True),
    sa.Column('cooling_off_until', UTCDateTime(), nullable=True),
    sa.Column('cancelled_at', UTCDateTime(), nullable=True),
    sa.Column('revisit_by', sa.String(length=128), nullable=True),
    sa.Column('revisited_at', UTCDateTime(), nullable=True),
    sa.Column('revisit_outcome', sa.String(length=32), nullable=True),
    sa.Column('instance_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_sale_customer_id_customer'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['holding_id'], ['customer_holding.id'], name=op.f('fk_sale_holding_id_customer_holding'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['sales_lead.id'], name=op.f('fk_sale_lead_id_sales_lead'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_code'], ['product.code'], name=op.f('fk_sale_product_code_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sale')),
    sa.UniqueConstraint('lead_id', name=op.f('uq_sale_lead_id'))
    )
    with op.batch_alter_table('sale', schema=None) as batch_op:
        batch_op.create_index('ix_sale_customer_product', ['customer_id', 'product_code', 'cooling_off_until'], unique=False)

    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('excluded_users', sa.String(length=512), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_column('excluded_users')

    with op.batch_alter_table('sale', schema=None) as batch_op:
        batch_op.drop_index('ix_sale_customer_product')

    op.drop_table('sale')
    with op.batch_alter_table('sales_lead', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sales_lead_instance_id'))
        batch_op.drop_index('ix_sales_lead_status_created')
        batch_op.drop_index('ix_sales_lead_customer')

    op.drop_table('sales_lead')
