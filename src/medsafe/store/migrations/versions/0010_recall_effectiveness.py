"""Recall effectiveness: units of recalled lots returned by pharmacies (recall_returns)
and the Part 7 effectiveness-check sample with each check's method and outcome
(recall_effectiveness_checks).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'recall_returns',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recall_id', sa.Integer(), nullable=False),
        sa.Column('pharmacy_id', sa.Integer(), nullable=False),
        sa.Column('lot_id', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('recorded_by', sa.String(length=80), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['recall_id'], ['recalls.id'],
                                name=op.f('fk_recall_returns_recall_id_recalls')),
        sa.ForeignKeyConstraint(['pharmacy_id'], ['organisations.id'],
                                name=op.f('fk_recall_returns_pharmacy_id_organisations')),
        sa.ForeignKeyConstraint(['lot_id'], ['lots.id'],
                                name=op.f('fk_recall_returns_lot_id_lots')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recall_returns')),
    )
    op.create_index(op.f('ix_recall_returns_recall_id'), 'recall_returns', ['recall_id'])
    op.create_table(
        'recall_effectiveness_checks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recall_id', sa.Integer(), nullable=False),
        sa.Column('subject_kind', sa.String(length=10), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('method', sa.String(length=10), nullable=True),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('outcome', sa.String(length=20), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('checked_by', sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(['recall_id'], ['recalls.id'],
                                name=op.f('fk_recall_effectiveness_checks_recall_id_recalls')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recall_effectiveness_checks')),
        sa.UniqueConstraint('recall_id', 'subject_kind', 'subject_id',
                            name=op.f('uq_recall_effectiveness_checks_recall_id')),
    )


def downgrade() -> None:
    op.drop_table('recall_effectiveness_checks')
    op.drop_index(op.f('ix_recall_returns_recall_id'), table_name='recall_returns')
    op.drop_table('recall_returns')
