"""complaints: cases, deadline clock events, feedback and review requests

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('complaint',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_no', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=True),
    sa.Column('complainant_name', sa.String(length=128), nullable=False),
    sa.Column('complainant_phone_enc', sa.Text(), nullable=True),
    sa.Column('complainant_phone_index', sa.String(length=64), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('business_type', sa.String(length=32), nullable=False),
    sa.Column('cause', sa.String(length=32), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('facts', sa.Text(), nullable=False),
    sa.Column('request', sa.Text(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('group_size', sa.Integer(), nullable=False),
    sa.Column('major_incident', sa.Boolean(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('routed_group', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('handler', sa.String(length=128), nullable=True),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.Column('clock_started_on', sa.Date(), nullable=False),
    sa.Column('target_due_on', sa.Date(), nullable=False),
    sa.Column('legal_due_on', sa.Date(), nullable=False),
    sa.Column('warn_on', sa.Date(), nullable=False),
    sa.Column('regulator_due_on', sa.Date(), nullable=True),
    sa.Column('extension', sa.String(length=16), nullable=False),
    sa.Column('paused_days', sa.Integer(), nullable=False),
    sa.Column('pause_started_at', UTCDateTime(), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_at', UTCDateTime(), nullable=True),
    sa.Column('answer_channel', sa.String(length=16), nullable=True),
    sa.Column('answer_outbox_key', sa.String(length=200), nullable=True),
    sa.Column('satisfaction', sa.Integer(), nullable=True),
    sa.Column('satisfaction_comment', sa.Text(), nullable=True),
    sa.Column('review_apply_by', sa.Date(), nullable=True),
    sa.Column('review_requested_at', UTCDateTime(), nullable=True),
    sa.Column('review_reason', sa.Text(), nullable=True),
    sa.Column('review_due_on', sa.Date(), nullable=True),
    sa.Column('merged_into', sa.String(length=32), nullable=True),
    sa.Column('instance_id', sa.Uuid(), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('source_ref', sa.String(length=128), nullable=True),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_complaint_instance_id_process_instance'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint')),
    sa.UniqueConstraint('case_no', name=op.f('uq_complaint_case_no')),
    sa.UniqueConstraint('source', 'source_ref', name=op.f('uq_complaint_source_source_ref'))
    )
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaint_complainant_phone_index'), ['complainant_phone_index'], unique=False)
        batch_op.create_index('ix_complaint_customer_status', ['customer_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaint_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_complaint_status_target', ['status', 'target_due_on'], unique=False)

    op.create_table('complaint_counter',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_complaint_counter'))
    )
    op.create_table('complaint_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('complaint_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id'], name=op.f('fk_complaint_event_complaint_id_complaint'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_event'))
    )
    with op.batch_alter_table('complaint_event', schema=None) as batch_op:
        batch_op.create_index('ix_complaint_event_case', ['complaint_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('complaint_event', schema=None) as batch_op:
        batch_op.drop_index('ix_complaint_event_case')
    op.drop_table('complaint_event')
    op.drop_table('complaint_counter')
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.drop_index('ix_complaint_status_target')
        batch_op.drop_index(batch_op.f('ix_complaint_instance_id'))
        batch_op.drop_index('ix_complaint_customer_status')
        batch_op.drop_index(batch_op.f('ix_complaint_complainant_phone_index'))
    op.drop_table('complaint')
