"""Repositories: one per aggregate, each holding the SQL of its aggregate.

A repository takes the unit of work's Session, runs queries and hands back ORM rows or
simple values. It never decides who may see what: the services pass the permission
clauses of `medsafe.security.permissions` in, so that the rules stay where the use cases
are and the SQL stays here.
"""

from medsafe.store.repositories.affected import AffectedRepository
from medsafe.store.repositories.audit import AuditEventRepository
from medsafe.store.repositories.care_reviews import CareReviewRepository
from medsafe.store.repositories.cases import CaseRepository
from medsafe.store.repositories.cds import CdsRepository
from medsafe.store.repositories.dispensings import DispensingRepository
from medsafe.store.repositories.effectiveness import EffectivenessRepository
from medsafe.store.repositories.monitoring import MonitoringRepository
from medsafe.store.repositories.organisations import OrganisationRepository
from medsafe.store.repositories.outbox import OutboxRepository
from medsafe.store.repositories.patients import PatientRepository
from medsafe.store.repositories.prescriptions import PrescriptionRepository
from medsafe.store.repositories.products import ProductRepository
from medsafe.store.repositories.recall_notices import RecallNoticeRepository
from medsafe.store.repositories.recalls import InvestigationRepository, RecallRepository
from medsafe.store.repositories.signals import SignalRepository
from medsafe.store.repositories.stock import StockRepository
from medsafe.store.repositories.users import UserRepository

__all__ = [
    "AffectedRepository",
    "AuditEventRepository",
    "CareReviewRepository",
    "CaseRepository",
    "CdsRepository",
    "DispensingRepository",
    "EffectivenessRepository",
    "InvestigationRepository",
    "MonitoringRepository",
    "OrganisationRepository",
    "OutboxRepository",
    "PatientRepository",
    "PrescriptionRepository",
    "ProductRepository",
    "RecallNoticeRepository",
    "RecallRepository",
    "SignalRepository",
    "StockRepository",
    "UserRepository",
]
