"""inbox: task SLA (warning, breach, pause), delegation, comments, attachments, routing, login lockout

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sla_warn_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('sla_breached_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('sla_paused_at', UTCDateTime(), nullable=True))
        batch_op.create_index('ix_human_task_status_due', ['status', 'due_at'], unique=False)
        batch_op.add_column(sa.Column('owner', sa.String(length=128), nullable=True))
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('skills', sa.String(length=512), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('absent_until', UTCDateTime(), nullable=True))
    # Queue index: candidates carry the task's status and creation time; tasks naming nobody get ("any", "*").
    with op.batch_alter_table('task_candidate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('created_at', UTCDateTime(), nullable=True))
        batch_op.drop_index('ix_task_candidate_kind_name')
    op.execute("UPDATE task_candidate SET status = (SELECT h.status FROM human_task h WHERE h.id = task_candidate.task_id), "
               "created_at = (SELECT h.created_at FROM human_task h WHERE h.id = task_candidate.task_id)")
    op.execute("INSERT INTO task_candidate (task_id, kind, name, status, created_at) "
               "SELECT h.id, 'any', '*', h.status, h.created_at FROM human_task h "
               "WHERE NOT EXISTS (SELECT 1 FROM task_candidate c WHERE c.task_id = h.id)")
    with op.batch_alter_table('task_candidate', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column('created_at', existing_type=UTCDateTime(), nullable=False)
        batch_op.create_index('ix_task_candidate_queue', ['kind', 'name', 'status', 'created_at', 'task_id'], unique=False)
    op.create_table('routing_state',
    sa.Column('group', sa.String(length=128), nullable=False),
    sa.Column('last_assignee', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('group', name=op.f('pk_routing_state'))
    )
    for table in ('attachment', 'task_comment'):
        extra = [sa.Column('filename', sa.String(length=256), nullable=False),
                 sa.Column('content_type', sa.String(length=128), nullable=False),
                 sa.Column('size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
                 sa.Column('sha256', sa.String(length=64), nullable=False),
                 sa.Column('uploaded_by', sa.String(length=128), nullable=False)] if table == 'attachment' else [
                 sa.Column('author', sa.String(length=128), nullable=False), sa.Column('text', sa.Text(), nullable=False)]
        op.create_table(table,
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('instance_id', sa.Uuid(), nullable=False),
        sa.Column('task_id', sa.Uuid(), nullable=True),
        *extra,
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                                name=op.f(f'fk_{table}_instance_id_process_instance'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{table}'))
        )
        op.create_index(f'ix_{table}_instance', table, ['instance_id', 'at'], unique=False)



def downgrade() -> None:
    for table in ('task_comment', 'attachment'):
        op.drop_index(f'ix_{table}_instance', table_name=table)
        op.drop_table(table)
    op.drop_table('routing_state')
    op.execute("DELETE FROM task_candidate WHERE kind = 'any'")
    with op.batch_alter_table('task_candidate', schema=None) as batch_op:
        batch_op.drop_index('ix_task_candidate_queue')
        batch_op.drop_column('created_at')
        batch_op.drop_column('status')
        batch_op.create_index('ix_task_candidate_kind_name', ['kind', 'name'], unique=False)
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        for column in ('absent_until', 'skills', 'locked_until', 'failed_logins'):
            batch_op.drop_column(column)
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_column('owner')
        batch_op.drop_index('ix_human_task_status_due')
        batch_op.drop_column('sla_paused_at')
        batch_op.drop_column('sla_breached_at')
        batch_op.drop_column('sla_warn_at')

