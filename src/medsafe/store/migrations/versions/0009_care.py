"""Care: the alternatives proposed for each affected patient of a recall and the
prescriber's decision (care_reviews), monitoring plans with their check-ins, the patient's
symptom and sleep diary, and the alerts the monitoring rules raise (docs/care.md).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 19:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'care_reviews',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recall_id', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('notice_id', sa.Integer(), nullable=True),
        sa.Column('prescription_id', sa.Integer(), nullable=True),
        sa.Column('medicine', sa.String(length=60), nullable=False),
        sa.Column('state', sa.String(length=14), nullable=False),
        sa.Column('proposals', sa.JSON(), nullable=False),
        sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_by', sa.String(length=80), nullable=True),
        sa.Column('chosen_rank', sa.Integer(), nullable=True),
        sa.Column('choice', sa.JSON(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('new_prescription_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['recall_id'], ['recalls.id'],
                                name=op.f('fk_care_reviews_recall_id_recalls')),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id'],
                                name=op.f('fk_care_reviews_patient_id_patients')),
        sa.ForeignKeyConstraint(['notice_id'], ['recall_patient_notices.id'],
                                name=op.f('fk_care_reviews_notice_id_recall_patient_notices')),
        sa.ForeignKeyConstraint(['prescription_id'], ['prescriptions.id'],
                                name=op.f('fk_care_reviews_prescription_id_prescriptions')),
        sa.ForeignKeyConstraint(['new_prescription_id'], ['prescriptions.id'],
                                name=op.f('fk_care_reviews_new_prescription_id_prescriptions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_care_reviews')),
        sa.UniqueConstraint('recall_id', 'patient_id', name=op.f('uq_care_reviews_recall_id')),
    )
    op.create_index(op.f('ix_care_reviews_patient_id'), 'care_reviews', ['patient_id'])
    op.create_table(
        'monitoring_plans',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('review_id', sa.Integer(), nullable=True),
        sa.Column('recall_id', sa.Integer(), nullable=True),
        sa.Column('prescriber_id', sa.Integer(), nullable=True),
        sa.Column('medicine_from', sa.String(length=60), nullable=False),
        sa.Column('medicine_to', sa.String(length=60), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=True),
        sa.Column('lot_id', sa.Integer(), nullable=True),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('started_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('check_in_days', sa.JSON(), nullable=False),
        sa.Column('transition', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id'],
                                name=op.f('fk_monitoring_plans_patient_id_patients')),
        sa.ForeignKeyConstraint(['review_id'], ['care_reviews.id'],
                                name=op.f('fk_monitoring_plans_review_id_care_reviews')),
        sa.ForeignKeyConstraint(['recall_id'], ['recalls.id'],
                                name=op.f('fk_monitoring_plans_recall_id_recalls')),
        sa.ForeignKeyConstraint(['prescriber_id'], ['users.id'],
                                name=op.f('fk_monitoring_plans_prescriber_id_users')),
        sa.ForeignKeyConstraint(['product_id'], ['products.id'],
                                name=op.f('fk_monitoring_plans_product_id_products')),
        sa.ForeignKeyConstraint(['lot_id'], ['lots.id'],
                                name=op.f('fk_monitoring_plans_lot_id_lots')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_plans')),
        sa.UniqueConstraint('review_id', name=op.f('uq_monitoring_plans_review_id')),
    )
    op.create_index(op.f('ix_monitoring_plans_patient_id'), 'monitoring_plans', ['patient_id'])
    op.create_index(op.f('ix_monitoring_plans_recall_id'), 'monitoring_plans', ['recall_id'])
    op.create_index(op.f('ix_monitoring_plans_prescriber_id'), 'monitoring_plans',
                    ['prescriber_id'])
    op.create_table(
        'diary_entries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('recorded_on', sa.Date(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('entered_by', sa.String(length=80), nullable=False),
        sa.Column('scores', sa.JSON(), nullable=False),
        sa.Column('red_flags', sa.JSON(), nullable=False),
        sa.Column('temperature_c', sa.Float(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['plan_id'], ['monitoring_plans.id'],
                                name=op.f('fk_diary_entries_plan_id_monitoring_plans')),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id'],
                                name=op.f('fk_diary_entries_patient_id_patients')),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_diary_entries_case_id_cases')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_diary_entries')),
        sa.UniqueConstraint('case_id', name=op.f('uq_diary_entries_case_id')),
    )
    op.create_index(op.f('ix_diary_entries_plan_id'), 'diary_entries', ['plan_id'])
    op.create_index(op.f('ix_diary_entries_patient_id'), 'diary_entries', ['patient_id'])
    op.create_table(
        'monitoring_check_ins',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('diary_entry_id', sa.Integer(), nullable=True),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('followed_up_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['plan_id'], ['monitoring_plans.id'],
                                name=op.f('fk_monitoring_check_ins_plan_id_monitoring_plans')),
        sa.ForeignKeyConstraint(['diary_entry_id'], ['diary_entries.id'],
                                name=op.f('fk_monitoring_check_ins_diary_entry_id_diary_entries')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_check_ins')),
        sa.UniqueConstraint('plan_id', 'due_on', name=op.f('uq_monitoring_check_ins_plan_id')),
    )
    op.create_index('ix_monitoring_check_ins_state_due', 'monitoring_check_ins',
                    ['state', 'due_on'])
    op.create_table(
        'care_alerts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('diary_entry_id', sa.Integer(), nullable=True),
        sa.Column('check_in_id', sa.Integer(), nullable=True),
        sa.Column('rule_id', sa.String(length=80), nullable=False),
        sa.Column('severity', sa.String(length=10), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('outbox_message_id', sa.Integer(), nullable=True),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolved_by', sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(['plan_id'], ['monitoring_plans.id'],
                                name=op.f('fk_care_alerts_plan_id_monitoring_plans')),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id'],
                                name=op.f('fk_care_alerts_patient_id_patients')),
        sa.ForeignKeyConstraint(['diary_entry_id'], ['diary_entries.id'],
                                name=op.f('fk_care_alerts_diary_entry_id_diary_entries')),
        sa.ForeignKeyConstraint(['check_in_id'], ['monitoring_check_ins.id'],
                                name=op.f('fk_care_alerts_check_in_id_monitoring_check_ins')),
        sa.ForeignKeyConstraint(['outbox_message_id'], ['outbox_messages.id'],
                                name=op.f('fk_care_alerts_outbox_message_id_outbox_messages')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_care_alerts')),
    )
    op.create_index(op.f('ix_care_alerts_plan_id'), 'care_alerts', ['plan_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_care_alerts_plan_id'), table_name='care_alerts')
    op.drop_table('care_alerts')
    op.drop_index('ix_monitoring_check_ins_state_due', table_name='monitoring_check_ins')
    op.drop_table('monitoring_check_ins')
    op.drop_index(op.f('ix_diary_entries_patient_id'), table_name='diary_entries')
    op.drop_index(op.f('ix_diary_entries_plan_id'), table_name='diary_entries')
    op.drop_table('diary_entries')
    for index in ('ix_monitoring_plans_prescriber_id', 'ix_monitoring_plans_recall_id',
                  'ix_monitoring_plans_patient_id'):
        op.drop_index(op.f(index), table_name='monitoring_plans')
    op.drop_table('monitoring_plans')
    op.drop_index(op.f('ix_care_reviews_patient_id'), table_name='care_reviews')
    op.drop_table('care_reviews')
