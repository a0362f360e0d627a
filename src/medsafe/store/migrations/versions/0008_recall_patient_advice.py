"""Recall patient advice: what the patient notices tell patients to do with the medicine
(keep_taking or stop_now), the reason the hazard gives for stopping, and the problem in
plain words, as the firm gives them with the strategy (recalls.model.Hazard). NULL: none
given, and the notices give the default, keep taking it until switched.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 10:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('recalls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('patient_action', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('patient_stop_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('patient_plain_words', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('recalls', schema=None) as batch_op:
        batch_op.drop_column('patient_plain_words')
        batch_op.drop_column('patient_stop_reason')
        batch_op.drop_column('patient_action')
