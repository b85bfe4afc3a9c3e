"""permissions: grants (with the built-in ones), maker-checker approvals (and tokens awaiting one), and who performed
each step

Revision ID: 0018
Revises: 0013
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from engine.clock import SystemClock
from engine.db.base import UTCDateTime

revision = '0018'
down_revision = '0013'
branch_labels = None
depends_on = None

# The built-in grants as they were when this revision was written (engine.authz.catalogue.DEFAULT_GRANTS then);
# a migration keeps its own copy so that a later change of the catalogue does not rewrite history.
DEFAULTS = (
    ("role:staff", "process", "*", ("start",)),
    ("role:staff", "process", "complaint_handling", ("read",)),
    ("role:staff", "customer", "portfolio", ("read", "reveal")),
    ("role:supervisor", "process", "*", ("start", "read", "inspect", "manage", "approve")),
    ("role:supervisor", "customer", "*", ("read", "reveal")),
    ("role:supervisor", "message", "*", ("correlate",)),
    ("role:supervisor", "system", "outbox", ("outbox",)),
    ("role:designer", "process", "*", ("start", "inspect", "deploy", "migrate", "approve")),
    ("role:compliance", "process", "*", ("read", "inspect")),
    ("role:compliance", "customer", "*", ("read",)),
    ("role:compliance", "system", "audit", ("audit",)),
    ("role:admin", "system", "users", ("users",)),
    ("role:admin", "system", "grants", ("grants",)),
    ("role:admin", "system", "audit", ("audit",)),
    ("role:admin", "system", "outbox", ("outbox",)),
    ("role:admin", "process", "*", ("start", "read", "inspect", "manage", "deploy", "migrate", "approve")),
    ("role:admin", "customer", "*", ("read", "reveal")),
    ("role:admin", "message", "*", ("correlate",)),
)


def upgrade() -> None:
    grant = op.create_table('authz_grant',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('principal_kind', sa.String(length=16), nullable=False),
    sa.Column('principal', sa.String(length=128), nullable=False),
    sa.Column('resource_kind', sa.String(length=16), nullable=False),
    sa.Column('resource_id', sa.String(length=256), nullable=False),
    sa.Column('permission', sa.String(length=32), nullable=False),
    sa.Column('granted_by', sa.String(length=128), nullable=False),
    sa.Column('approved_by', sa.String(length=128), nullable=True),
    sa.Column('granted_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authz_grant')),
    sa.UniqueConstraint('principal_kind', 'principal', 'resource_kind', 'resource_id', 'permission',
                        name='uq_authz_grant')
    )
    op.create_table('approval_request',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=256), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.String(length=128), nullable=False),
    sa.Column('requested_at', UTCDateTime(), nullable=False),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_request'))
    )
    op.create_index('ix_approval_request_status', 'approval_request', ['status', 'requested_at'], unique=False)
    op.create_table('task_performer',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('instance_id', sa.Uuid(), nullable=False),
    sa.Column('element_id', sa.String(length=256), nullable=False),
    sa.Column('username', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                            name=op.f('fk_task_performer_instance_id_process_instance'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_performer'))
    )
    op.create_index('ix_task_performer_instance', 'task_performer', ['instance_id', 'element_id'], unique=False)
    with op.batch_alter_table('api_token') as batch:
        batch.add_column(sa.Column('awaiting_approval', sa.Boolean(), server_default=sa.false(), nullable=False))
    now = SystemClock().now()  # migrations run outside an engine context: the machine's clock
    op.bulk_insert(grant, [
        {"principal_kind": principal.split(":")[0], "principal": principal.split(":")[1], "resource_kind": kind,
         "resource_id": resource, "permission": permission, "granted_by": "built-in", "approved_by": None,
         "granted_at": now}
        for principal, kind, resource, permissions in DEFAULTS for permission in permissions
    ])


def downgrade() -> None:
    with op.batch_alter_table('api_token') as batch:
        batch.drop_column('awaiting_approval')
    op.drop_index('ix_task_performer_instance', table_name='task_performer')
    op.drop_table('task_performer')
    op.drop_index('ix_approval_request_status', table_name='approval_request')
    op.drop_table('approval_request')
    op.drop_table('authz_grant')
