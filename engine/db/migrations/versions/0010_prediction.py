"""prediction: model runs and customer scores with their reasons

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_run',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('trained_at', UTCDateTime(), nullable=False),
    sa.Column('trained_by', sa.String(length=128), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.Column('coefficients', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_run'))
    )
    with op.batch_alter_table('model_run', schema=None) as batch_op:
        batch_op.create_index('ix_model_run_kind_trained', ['kind', 'trained_at'], unique=False)

    op.create_table('customer_score',
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('model_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scored_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_customer_score_customer_id_customer'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_run_id'], ['model_run.id'], name=op.f('fk_customer_score_model_run_id_model_run'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', 'kind', name=op.f('pk_customer_score'))
    )
    with op.batch_alter_table('customer_score', schema=None) as batch_op:
        batch_op.create_index('ix_customer_score_kind_score', ['kind', 'score'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_score_model_run_id'), ['model_run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('customer_score', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_score_model_run_id'))
        batch_op.drop_index('ix_customer_score_kind_score')

    op.drop_table('customer_score')
    with op.batch_alter_table('model_run', schema=None) as batch_op:
        batch_op.drop_index('ix_model_run_kind_trained')

    op.drop_table('model_run')
