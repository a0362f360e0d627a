"""CDS Hooks: the cards the CDS services returned (cds_cards) and the EHR's feedback on
them, accepted or overridden with a reason (cds_feedback).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cds_cards',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uuid', sa.String(length=36), nullable=False),
        sa.Column('service_id', sa.String(length=64), nullable=False),
        sa.Column('hook_instance', sa.String(length=128), nullable=False),
        sa.Column('patient_ref', sa.String(length=80), nullable=False),
        sa.Column('rule_id', sa.String(length=200), nullable=False),
        sa.Column('indicator', sa.String(length=10), nullable=False),
        sa.Column('summary', sa.String(length=140), nullable=False),
        sa.Column('suggestion_ids', sa.JSON(), nullable=False),
        sa.Column('detected_issue', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cds_cards')),
        sa.UniqueConstraint('uuid', name=op.f('uq_cds_cards_uuid')),
    )
    op.create_index(op.f('ix_cds_cards_rule_id'), 'cds_cards', ['rule_id'])
    op.create_table(
        'cds_feedback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('card_id', sa.Integer(), nullable=False),
        sa.Column('outcome', sa.String(length=10), nullable=False),
        sa.Column('accepted_suggestions', sa.JSON(), nullable=False),
        sa.Column('reason_system', sa.String(length=200), nullable=True),
        sa.Column('reason_code', sa.String(length=100), nullable=True),
        sa.Column('reason_display', sa.String(length=200), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('outcome_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['card_id'], ['cds_cards.id'],
                                name=op.f('fk_cds_feedback_card_id_cds_cards')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cds_feedback')),
    )
    op.create_index(op.f('ix_cds_feedback_card_id'), 'cds_feedback', ['card_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_cds_feedback_card_id'), table_name='cds_feedback')
    op.drop_table('cds_feedback')
    op.drop_index(op.f('ix_cds_cards_rule_id'), table_name='cds_cards')
    op.drop_table('cds_cards')
