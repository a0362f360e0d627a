"""Care reviews: the alternatives proposed for each affected patient of a recall, and the
prescriber's decision (docs/care.md)."""

from __future__ import annotations

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import CareReview


class CareReviewRepository(Repository):
    def get(self, review_id: int) -> CareReview | None:
        return self.session.get(CareReview, review_id)
