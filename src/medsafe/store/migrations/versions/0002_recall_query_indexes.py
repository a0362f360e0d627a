"""Indexes for "all patients who received lot X" at scale.

A covering index on patients (id, pseudonym) lets the recall query join dispensed patient
ids to pseudonyms from the index alone. On PostgreSQL, finer statistics on
dispensings.lot_id keep the planner's estimate of patients per lot close, so it does not
switch to scanning every patient for a large lot (seen in benchmarks/bench_store.py at
one million patients).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.create_index("ix_patients_id_pseudonym", ["id", "pseudonym"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE dispensings ALTER COLUMN lot_id SET STATISTICS 1000")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE dispensings ALTER COLUMN lot_id SET STATISTICS -1")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_index("ix_patients_id_pseudonym")
