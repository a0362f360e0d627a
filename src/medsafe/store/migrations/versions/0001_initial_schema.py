"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('entity', sa.String(length=60), nullable=False),
    sa.Column('entity_id', sa.String(length=80), nullable=False),
    sa.Column('changes', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_events_hash')),
    sa.UniqueConstraint('prev_hash', name=op.f('uq_audit_events_prev_hash'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_entity', ['entity', 'entity_id'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('organisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
    sa.UniqueConstraint('kind', 'name', name=op.f('uq_organisations_kind'))
    )
    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pseudonym', sa.String(length=40), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('sex', sa.String(length=10), nullable=True),
    sa.Column('pregnant', sa.Boolean(), nullable=True),
    sa.Column('preferred_route', sa.String(length=12), nullable=True),
    sa.Column('avoid_side_effects', sa.JSON(), nullable=False),
    sa.Column('symptom_severity', sa.String(length=10), nullable=True),
    sa.Column('synthetic', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patients')),
    sa.UniqueConstraint('pseudonym', name=op.f('uq_patients_pseudonym'))
    )
    op.create_table('patient_allergies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=200), nullable=False),
    sa.Column('code_system', sa.String(length=20), nullable=True),
    sa.Column('code', sa.String(length=40), nullable=True),
    sa.Column('reaction', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_allergies_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_allergies'))
    )
    with op.batch_alter_table('patient_allergies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_allergies_patient_id'), ['patient_id'], unique=False)

    op.create_table('patient_conditions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=200), nullable=False),
    sa.Column('code_system', sa.String(length=20), nullable=True),
    sa.Column('code', sa.String(length=40), nullable=True),
    sa.Column('severity', sa.String(length=10), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_conditions_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_conditions'))
    )
    with op.batch_alter_table('patient_conditions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_conditions_patient_id'), ['patient_id'], unique=False)

    op.create_table('patient_contacts',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_contacts_patient_id_patients')),
    sa.PrimaryKeyConstraint('patient_id', name=op.f('pk_patient_contacts'))
    )
    op.create_table('patient_medications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=200), nullable=False),
    sa.Column('rxnorm', sa.String(length=20), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_medications_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_medications'))
    )
    with op.batch_alter_table('patient_medications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_medications_patient_id'), ['patient_id'], unique=False)

    op.create_table('patient_observations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('unit', sa.String(length=30), nullable=True),
    sa.Column('upper_limit', sa.Float(), nullable=True),
    sa.Column('category', sa.String(length=10), nullable=True),
    sa.Column('observed_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_observations_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_observations'))
    )
    with op.batch_alter_table('patient_observations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_observations_patient_id'), ['patient_id'], unique=False)

    op.create_table('products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('code_system', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('ingredient_id', sa.String(length=60), nullable=False),
    sa.Column('strength', sa.String(length=60), nullable=True),
    sa.Column('form', sa.String(length=60), nullable=True),
    sa.Column('route', sa.String(length=20), nullable=True),
    sa.Column('manufacturer_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['manufacturer_id'], ['organisations.id'], name=op.f('fk_products_manufacturer_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('code_system', 'code', name=op.f('uq_products_code_system'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_ingredient_id'), ['ingredient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_products_manufacturer_id'), ['manufacturer_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_users_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_users_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('api_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_api_tokens'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('browser_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_browser_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_browser_sessions'))
    )
    with op.batch_alter_table('browser_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_browser_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('care_relationships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('physician_id', sa.Integer(), nullable=True),
    sa.Column('pharmacy_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_care_relationships_patient_id_patients')),
    sa.ForeignKeyConstraint(['pharmacy_id'], ['organisations.id'], name=op.f('fk_care_relationships_pharmacy_id_organisations')),
    sa.ForeignKeyConstraint(['physician_id'], ['users.id'], name=op.f('fk_care_relationships_physician_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_care_relationships'))
    )
    with op.batch_alter_table('care_relationships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_care_relationships_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_care_relationships_pharmacy_id'), ['pharmacy_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_care_relationships_physician_id'), ['physician_id'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response_body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_keys_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotency_keys_user_id'))
    )
    op.create_table('lots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('lot_number', sa.String(length=60), nullable=False),
    sa.Column('expiry', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_lots_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lots')),
    sa.UniqueConstraint('product_id', 'lot_number', name=op.f('uq_lots_product_id'))
    )
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lots_product_id'), ['product_id'], unique=False)

    op.create_table('prescriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('prescriber_id', sa.Integer(), nullable=False),
    sa.Column('ingredient_id', sa.String(length=60), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('dose_text', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_prescriptions_patient_id_patients')),
    sa.ForeignKeyConstraint(['prescriber_id'], ['users.id'], name=op.f('fk_prescriptions_prescriber_id_users')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_prescriptions_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prescriptions'))
    )
    with op.batch_alter_table('prescriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prescriptions_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_prescriptions_prescriber_id'), ['prescriber_id'], unique=False)

    op.create_table('adverse_event_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('lot_id', sa.Integer(), nullable=True),
    sa.Column('ingredient_id', sa.String(length=60), nullable=False),
    sa.Column('reaction', sa.String(length=200), nullable=False),
    sa.Column('preferred_term', sa.String(length=200), nullable=True),
    sa.Column('serious', sa.Boolean(), nullable=False),
    sa.Column('onset_on', sa.Date(), nullable=True),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('reporter', sa.String(length=20), nullable=False),
    sa.Column('narrative', sa.Text(), nullable=True),
    sa.Column('synthetic', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_adverse_event_reports_lot_id_lots')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_adverse_event_reports_patient_id_patients')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_adverse_event_reports_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adverse_event_reports'))
    )
    with op.batch_alter_table('adverse_event_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adverse_event_reports_ingredient_id'), ['ingredient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_adverse_event_reports_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_adverse_event_reports_patient_id'), ['patient_id'], unique=False)

    op.create_table('dispensings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('dispensed_on', sa.Date(), nullable=False),
    sa.Column('pharmacy_id', sa.Integer(), nullable=False),
    sa.Column('prescriber_id', sa.Integer(), nullable=True),
    sa.Column('prescription_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_dispensings_lot_id_lots')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_dispensings_patient_id_patients')),
    sa.ForeignKeyConstraint(['pharmacy_id'], ['organisations.id'], name=op.f('fk_dispensings_pharmacy_id_organisations')),
    sa.ForeignKeyConstraint(['prescriber_id'], ['users.id'], name=op.f('fk_dispensings_prescriber_id_users')),
    sa.ForeignKeyConstraint(['prescription_id'], ['prescriptions.id'], name=op.f('fk_dispensings_prescription_id_prescriptions')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_dispensings_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispensings'))
    )
    with op.batch_alter_table('dispensings', schema=None) as batch_op:
        batch_op.create_index('ix_dispensings_lot_patient', ['lot_id', 'patient_id'], unique=False)
        batch_op.create_index('ix_dispensings_patient_date', ['patient_id', 'dispensed_on'], unique=False)
        batch_op.create_index('ix_dispensings_pharmacy_date', ['pharmacy_id', 'dispensed_on'], unique=False)

    op.create_table('stock',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pharmacy_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_stock_lot_id_lots')),
    sa.ForeignKeyConstraint(['pharmacy_id'], ['organisations.id'], name=op.f('fk_stock_pharmacy_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock')),
    sa.UniqueConstraint('pharmacy_id', 'lot_id', name=op.f('uq_stock_pharmacy_id'))
    )
    with op.batch_alter_table('stock', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_lot_id'), ['lot_id'], unique=False)



    # The audit chain starts from a fixed genesis head (see security/audit.py).
    op.bulk_insert(sa.table("audit_head", sa.column("id", sa.Integer),
                            sa.column("seq", sa.Integer), sa.column("hash", sa.String)),
                   [{"id": 1, "seq": 0, "hash": "0" * 64}])


def downgrade() -> None:
    with op.batch_alter_table('stock', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_lot_id'))

    op.drop_table('stock')
    with op.batch_alter_table('dispensings', schema=None) as batch_op:
        batch_op.drop_index('ix_dispensings_pharmacy_date')
        batch_op.drop_index('ix_dispensings_patient_date')
        batch_op.drop_index('ix_dispensings_lot_patient')

    op.drop_table('dispensings')
    with op.batch_alter_table('adverse_event_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_adverse_event_reports_patient_id'))
        batch_op.drop_index(batch_op.f('ix_adverse_event_reports_lot_id'))
        batch_op.drop_index(batch_op.f('ix_adverse_event_reports_ingredient_id'))

    op.drop_table('adverse_event_reports')
    with op.batch_alter_table('prescriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prescriptions_prescriber_id'))
        batch_op.drop_index(batch_op.f('ix_prescriptions_patient_id'))

    op.drop_table('prescriptions')
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lots_product_id'))

    op.drop_table('lots')
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('care_relationships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_care_relationships_physician_id'))
        batch_op.drop_index(batch_op.f('ix_care_relationships_pharmacy_id'))
        batch_op.drop_index(batch_op.f('ix_care_relationships_patient_id'))

    op.drop_table('care_relationships')
    with op.batch_alter_table('browser_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_browser_sessions_user_id'))

    op.drop_table('browser_sessions')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    op.drop_table('users')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_manufacturer_id'))
        batch_op.drop_index(batch_op.f('ix_products_ingredient_id'))

    op.drop_table('products')
    with op.batch_alter_table('patient_observations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_observations_patient_id'))

    op.drop_table('patient_observations')
    with op.batch_alter_table('patient_medications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_medications_patient_id'))

    op.drop_table('patient_medications')
    op.drop_table('patient_contacts')
    with op.batch_alter_table('patient_conditions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_conditions_patient_id'))

    op.drop_table('patient_conditions')
    with op.batch_alter_table('patient_allergies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_allergies_patient_id'))

    op.drop_table('patient_allergies')
    op.drop_table('patients')
    op.drop_table('organisations')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_entity')

    op.drop_table('audit_events')
