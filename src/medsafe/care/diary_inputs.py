"""What the monitoring use cases take and give back (`care.monitoring_service`): strict,
bounded inputs (`records.Input`) shared by the API, the pages, the CLI and the tests, and
the frozen views the pages and the API show.

The inputs bound only their shape here (how many scores, how long a note). Whether a
score is on its item's scale, a red flag exists or a temperature is plausible is the
monitoring configuration's business (`care.monitoring.validate_entry`), so that one
message names every bad field with what is allowed, whatever the entry came through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from medsafe.records import Day, Input, View

MAX_ID = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
# Diary item, red-flag and ingredient ids are short lower-case words (`sleep_quality`,
# `rebound_spasticity`, `baclofen`); the configuration decides which exist.
Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,59}$")]
Note = Annotated[str, Field(min_length=1, max_length=4000)]
Username = Annotated[str, Field(min_length=1, max_length=80)]
SeriousnessCriterion = Literal["death", "life_threatening", "hospitalisation", "disability",
                               "congenital_anomaly", "other_medically_important",
                               "required_intervention"]
ReactionOutcome = Literal["recovered", "recovering", "not_recovered",
                          "recovered_with_sequelae", "fatal", "unknown"]


# -- inputs ------------------------------------------------------------------------------

class NewDiaryEntry(Input):
    """One diary entry: scores on the diary's items (0–10 unless the configuration says
    otherwise), the red flags ticked, a temperature if taken, and the patient's words."""

    recorded_on: Day | None = Field(default=None,
                                     description="the day it describes (default: today)")
    scores: dict[Key, int] = Field(default_factory=dict, max_length=50)
    red_flags: list[Key] = Field(default_factory=list, max_length=50)
    temperature_c: float | None = Field(default=None, allow_inf_nan=False,
                                        description="degrees Celsius, if measured")
    note: Note | None = None


class NewPlan(Input):
    """A monitoring plan started by hand by a physician (outside a recall's review, or
    after one). An administrator names the prescriber; a physician is the prescriber."""

    medicine_from: Key = Field(description="ingredient id of the medicine stopped or kept")
    medicine_to: Key = Field(description="ingredient id of the medicine taken now")
    product_id: RowId | None = Field(default=None, description="the product taken")
    lot_id: RowId | None = Field(default=None, description="the lot the patient received")
    prescriber: Username | None = Field(default=None,
                                        description="physician's username (admins only)")
    start_on: Day | None = None
    reason: Note


class NewDiaryCase(Input):
    """A diary entry reported as a side effect. `reactions`: the diary items and red flags
    to report (default: the red flags ticked and the items scored at or beyond a rule's
    threshold)."""

    reactions: list[Key] | None = Field(default=None, max_length=50)
    seriousness: list[SeriousnessCriterion] = Field(default_factory=list, max_length=7)
    outcome: ReactionOutcome = "unknown"


@dataclass(frozen=True, slots=True)
class BulkEntry:
    """One entry of a bulk ingestion (`record_diary_many`): a plain value, so that a
    benchmark or the demo can make a hundred thousand without a model's checks twice
    (the service checks every value against the configuration)."""

    plan_id: int
    recorded_on: date
    scores: dict[str, int] = field(default_factory=dict)
    red_flags: tuple[str, ...] = ()
    temperature_c: float | None = None
    note: str | None = None
    entered_by: str = "system"


# -- views -------------------------------------------------------------------------------

class CheckInView(View):
    id: int
    plan_id: int
    due_on: date
    state: str  # due done missed
    diary_entry_id: int | None
    done_at: datetime | None
    followed_up_at: datetime | None
    overdue: bool  # still due after its grace (the next follow-up marks it missed)


class DiaryEntryView(View):
    id: int
    plan_id: int
    recorded_on: date
    recorded_at: datetime
    entered_by: str
    scores: dict[str, int]
    red_flags: list[str]
    temperature_c: float | None
    note: str | None
    case_id: int | None


class AlertView(View):
    id: int
    plan_id: int
    pseudonym: str
    diary_entry_id: int | None
    check_in_id: int | None
    rule_id: str
    severity: str  # warning urgent
    message: str
    created_at: datetime
    notified: bool  # an outbox message carried it to the prescriber
    resolved_at: datetime | None
    resolved_by: str | None


class PlanView(View):
    id: int
    pseudonym: str
    review_id: int | None
    recall_id: int | None
    prescriber: str | None  # username
    medicine_from: str
    medicine_to: str
    product_id: int | None
    lot_id: int | None
    state: str  # active ended
    started_on: date
    ends_on: date
    check_in_days: list[int]
    transition: dict[str, Any]
    check_ins: list[CheckInView]


class DiaryResult(View):
    entry: DiaryEntryView
    alerts: list[AlertView]
    check_in_done: date | None  # the due day of the check-in this entry fulfilled
    messages: int  # outbox messages written to the prescriber


class PatientMonitoring(View):
    pseudonym: str
    plans: list[PlanView]
    entries: list[DiaryEntryView]  # oldest first
    open_alerts: list[AlertView]  # urgent first, then newest


class PlanSummary(View):
    id: int
    pseudonym: str
    medicine_from: str
    medicine_to: str
    started_on: date
    ends_on: date
    open_alerts: int
    urgent_alerts: int
    overdue_check_ins: int
    next_check_in: date | None
    last_entry: date | None


class PrescriberOverview(View):
    plans: list[PlanSummary]  # urgent alerts first, then open alerts, then overdue
    open_alerts: list[AlertView]  # urgent first, then newest
    overdue_check_ins: list[CheckInView]


class SeriesPoint(View):
    day: date
    since_start: int  # days since the plan started (the charts' axis)
    value: int


class Series(View):
    """One diary item over time, for a plot: its scale and its points, oldest first."""

    item: str
    label: str
    low: int
    high: int
    higher_is_worse: bool
    points: list[SeriesPoint]


class PlanDetail(View):
    plan: PlanView
    entries: list[DiaryEntryView]  # oldest first
    alerts: list[AlertView]  # open first (urgent first), then resolved
    series: list[Series]
    temperatures: list[tuple[date, float]]


class FollowUpTally(View):
    missed: int  # check-ins newly marked missed (each a CareAlert)
    done_late: int  # check-ins found fulfilled by an entry that had not been matched
    reminders: int  # e-mails to patients
    prescriber_notes: int  # e-mails to prescribers
    ended: int  # plans ended


class BulkTally(View):
    entries: int
    alerts: int
    urgent: int
    check_ins_done: int
    messages: int
