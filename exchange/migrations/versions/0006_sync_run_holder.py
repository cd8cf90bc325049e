"""sync run holder and heartbeat

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 22:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import exchange.db.base


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('holder', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('holder_host', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('holder_pid', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('heartbeat_at', exchange.db.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('holder_pid')
        batch_op.drop_column('holder_host')
        batch_op.drop_column('holder')
