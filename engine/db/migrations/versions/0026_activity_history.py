"""activity_history: when each BPMN activity of an instance was entered and left (the designer's heatmap)

The user tasks already known are copied from ``human_task`` (its id is the SpiffWorkflow task id, as here), so the
heatmap keeps what it showed before and the step closes those rows when their tasks end. Other activities are
recorded from the first step after this migration on.

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('activity_history',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('instance_id', sa.Uuid(), nullable=False),
    sa.Column('process_key', sa.String(length=128), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('element_id', sa.String(length=256), nullable=False),
    sa.Column('element_type', sa.String(length=32), nullable=False),
    sa.Column('started_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('actor', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                            name=op.f('fk_activity_history_instance_id_process_instance'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_history'))
    )
    op.create_index('ix_activity_history_process_element', 'activity_history',
                    ['process_key', 'definition_id', 'element_id'], unique=False)
    op.create_index('ix_activity_history_open', 'activity_history', ['instance_id', 'ended_at'], unique=False)
    op.execute(
        "INSERT INTO activity_history (id, instance_id, process_key, definition_id, element_id, element_type, "
        "started_at, ended_at, outcome, actor) "
        "SELECT t.id, t.instance_id, t.process_key, i.definition_id, t.task_name, 'userTask', t.created_at, "
        "CASE WHEN t.status IN ('completed', 'cancelled') THEN t.completed_at END, "
        "CASE WHEN t.status IN ('completed', 'cancelled') THEN t.status END, "
        "CASE WHEN t.status = 'completed' THEN t.completed_by END "
        "FROM human_task t JOIN process_instance i ON i.id = t.instance_id"
    )


def downgrade() -> None:
    op.drop_index('ix_activity_history_open', table_name='activity_history')
    op.drop_index('ix_activity_history_process_element', table_name='activity_history')
    op.drop_table('activity_history')
