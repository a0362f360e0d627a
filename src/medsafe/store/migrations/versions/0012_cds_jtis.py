"""CDS Hooks: the JWT jtis already used (cds_jtis), so that the replay check is shared by
every server process (`medsafe serve --workers`) and survives a restart.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 20:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cds_jtis',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('issuer', sa.String(length=255), nullable=False),
        sa.Column('jti', sa.String(length=256), nullable=False),
        sa.Column('held_until', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cds_jtis')),
        sa.UniqueConstraint('issuer', 'jti', name=op.f('uq_cds_jtis_issuer')),
    )
    op.create_index(op.f('ix_cds_jtis_held_until'), 'cds_jtis', ['held_until'])


def downgrade() -> None:
    op.drop_index(op.f('ix_cds_jtis_held_until'), table_name='cds_jtis')
    op.drop_table('cds_jtis')
