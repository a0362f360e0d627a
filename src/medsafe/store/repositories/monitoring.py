"""Monitoring: plans, check-ins, diary entries and the alerts their rules raise
(docs/care.md)."""

from __future__ import annotations

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import MonitoringPlan


class MonitoringRepository(Repository):
    def plan(self, plan_id: int) -> MonitoringPlan | None:
        return self.session.get(MonitoringPlan, plan_id)
