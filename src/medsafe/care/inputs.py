"""What the switching use cases take and give back (`care.switching`): the prescriber's
decision on a review, bounded and strict (`records.Input`), and the views of reviews with
their proposals, shared by the API, the pages and the tests.

The proposal views mirror `care.model` (Proposal, TransitionPlan, DoseStep, FindingNote)
field for field: a review stores its proposals as that JSON, and the views read it back
as it is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import Field

from medsafe.records import Day, Input, View

ReviewState = Literal["proposed", "accepted", "chosen_other"]
REVIEW_STATES: tuple[str, ...] = get_args(ReviewState)


# -- the decision -----------------------------------------------------------------------------

class TaperStep(Input):
    """One step of a taper the prescriber writes: from `day` (0 = the decision's start
    date) for `days` days, `dose_mg` taken `times_per_day`. A last step of 0 mg is the
    stop; otherwise the medicine stops when the last step ends."""

    day: int = Field(ge=0, le=3650)
    days: int = Field(ge=1, le=365)
    dose_mg: float = Field(ge=0, le=10_000, allow_inf_nan=False)
    times_per_day: int = Field(ge=1, le=12)


class Decision(Input):
    """The prescriber's decision on a review: accept proposal `rank`, or choose another
    medicine (`ingredient` with its `dose_text`). `reason` is required for anything but
    the first proposal. `taper_steps` are required where the chosen proposal's transition
    has no cited schedule (`needs_prescriber_steps`): at least two steps, each taking less
    a day than the one before, then the stop."""

    rank: int | None = Field(default=None, ge=1, le=50,
                             description="the proposal accepted (1 = medsafe's first)")
    ingredient: str | None = Field(default=None, min_length=1, max_length=80,
                                   description="another medicine: ingredient id, name or "
                                               "brand in the knowledge base")
    dose_text: str | None = Field(default=None, min_length=1, max_length=200,
                                  description="the other medicine's starting dose")
    reason: str = Field(default="", max_length=2000,
                        description="why (required unless proposal 1 is accepted; audited)")
    taper_steps: list[TaperStep] = Field(default_factory=list, max_length=30)
    start_date: Day | None = Field(default=None, description="default: today")


# -- views ------------------------------------------------------------------------------------

class DoseStepView(View):
    day: int
    days: int | None
    medicine: str
    text: str
    dose_mg: float | None = None
    times_per_day: int | None = None
    note: str | None = None
    stop: bool = False


class TransitionView(View):
    kind: str
    stop: list[DoseStepView] = Field(default_factory=list)
    start: list[DoseStepView] = Field(default_factory=list)
    adjustments: list[str] = Field(default_factory=list)
    cautions: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    derived: list[str] = Field(default_factory=list)
    needs_prescriber_steps: bool = False


class FindingView(View):
    severity: str
    kind: str
    summary: str
    rule: str
    source: str | None = None


class ProposalView(View):
    rank: int
    kind: str
    ingredient_id: str
    ingredient_name: str
    route: str
    suitability: str
    findings: list[FindingView]
    dose_start: str | None
    dose_titration: list[str]
    dose_max_daily: str | None
    dose_source: str | None
    transition: TransitionView
    reasons: list[str]
    lots: list[str] = Field(default_factory=list)
    product_id: int | None = None


class ReviewView(View):
    id: int
    recall_id: int
    recall_number: str | None
    patient: str  # pseudonym
    pharmacy_id: int | None  # the pharmacy of the patient's recall notice
    medicine: str  # the recalled ingredient id
    state: ReviewState
    prescription_id: int | None  # the prescription of the recalled medicine it replaces
    current_dose: str | None
    proposals: list[ProposalView]
    proposed_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    chosen_rank: int | None
    choice: dict[str, Any] | None  # the proposal taken, with the prescriber's steps
    reason: str | None
    new_prescription_id: int | None
    plan_id: int | None  # the monitoring plan the decision started


class ReviewSummary(View):
    id: int
    recall_id: int
    recall_number: str | None
    patient: str
    medicine: str
    state: ReviewState
    proposals: int
    first: str | None  # the first proposal, in a few words
    decided_at: datetime | None
    plan_id: int | None

