"""task submissions (what each completion submitted, for approvals and their diffs) and form drafts, both sealed

Revision ID: 0023
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('task_submission',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('instance_id', sa.Uuid(), nullable=False),
    sa.Column('task_id', sa.Uuid(), nullable=False),
    sa.Column('element_id', sa.String(length=256), nullable=False),
    sa.Column('form_key', sa.String(length=128), nullable=True),
    sa.Column('data_sealed', sa.Text(), nullable=False),
    sa.Column('submitted_by', sa.String(length=128), nullable=False),
    sa.Column('submitted_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                            name=op.f('fk_task_submission_instance_id_process_instance'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_submission'))
    )
    op.create_index('ix_task_submission_instance', 'task_submission', ['instance_id', 'element_id'], unique=False)
    op.create_table('task_draft',
    sa.Column('task_id', sa.Uuid(), nullable=False),
    sa.Column('username', sa.String(length=128), nullable=False),
    sa.Column('data_sealed', sa.Text(), nullable=False),
    sa.Column('saved_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['human_task.id'], name=op.f('fk_task_draft_task_id_human_task'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', 'username', name=op.f('pk_task_draft'))
    )


def downgrade() -> None:
    op.drop_table('task_draft')
    op.drop_index('ix_task_submission_instance', table_name='task_submission')
    op.drop_table('task_submission')
