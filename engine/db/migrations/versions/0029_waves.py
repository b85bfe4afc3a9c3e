"""waves: wave_chunk, and on PostgreSQL the job queue's own schema (procrastinate)

Revision ID: 0029
Revises: 0028

The queue's tables, types and functions are procrastinate's ``schema.sql`` of the installed version, applied once
here so that ``careflow migrate`` is the only step a database needs (docs/decisions.md, "Waves"). SQLite has no
queue: waves run in-process there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.base import UTCDateTime

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('wave_chunk',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('job', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('lo', sa.String(length=32), nullable=True),
    sa.Column('hi', sa.String(length=32), nullable=True),
    sa.Column('cursor', sa.String(length=32), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('started', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('queued_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wave_chunk')),
    sa.UniqueConstraint('job', 'day', 'seq', name=op.f('uq_wave_chunk_job_day_seq')))
    op.create_index('ix_wave_chunk_day', 'wave_chunk', ['day', 'job', 'state'])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and not bind.execute(sa.text(
            "SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar():
        from procrastinate.schema import SchemaManager

        bind.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))  # SQLAlchemy passes parameters


def downgrade() -> None:
    op.drop_index('ix_wave_chunk_day', table_name='wave_chunk')
    op.drop_table('wave_chunk')
