"""What the investigation and recall use cases take: bounded, strict inputs (`records.Input`)
shared by the API, the CLI and the tests. Every step carries its `reason`, which goes to
the audit trail with the author; the recall's own reason is `reason_for_recall` (openFDA's
name), so the two are never confused."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from medsafe.records import Day, Input

MAX_ID = 2**31 - 1
Reason = Annotated[str, Field(min_length=1, max_length=4000,
                              description="why this step is taken (audited with its author)")]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
Short = Annotated[str, Field(min_length=1, max_length=200)]
LotText = Annotated[str, Field(min_length=1, max_length=100)]
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
ClassName = Literal["I", "II", "III"]
Part7Role = Literal["firm", "regulator", "pharmacy", "physician"]
ActingAs = Annotated[Part7Role | None, Field(
    description="an administrator's Part 7 role for this step (default: the "
    "role the step belongs to); anyone else acts in the role of their account")]


# -- investigations ------------------------------------------------------------------------

class NewInvestigation(Input):
    product: Short
    origin: Literal["signal", "case_cluster", "quality_defect"]
    signal_id: RowId | None = Field(default=None, description="the signal it opens from")
    case_ids: list[RowId] = Field(default_factory=list, max_length=10_000,
                                  description="the cases of a cluster (store ids)")
    lots: list[LotText] = Field(default_factory=list, max_length=1_000)
    description: str = Field(default="", max_length=4000,
                             description="what the quality defect is")
    reason: Reason


class NewAnalysis(Input):
    signal_ids: list[RowId] = Field(default_factory=list, max_length=1_000)
    case_ids: list[RowId] = Field(default_factory=list, max_length=10_000)
    run_ids: list[RowId] = Field(default_factory=list, max_length=1_000)
    summary: str = Field(default="", max_length=8000)
    reason: Reason


class NewLotTest(Input):
    lot: LotText
    test: Short
    result: Annotated[str, Field(min_length=1, max_length=500)]
    specification: Annotated[str, Field(min_length=1, max_length=500)]
    passed: bool
    tested_on: Day
    reason: Reason


class NewHazardEvaluation(Input):
    """The factors of 21 CFR 7.41(a) and the class they propose (None: none)."""

    injuries_occurred: bool
    injuries: str = Field(default="", max_length=4000)
    exposure_conditions: Text
    populations_at_risk: list[Short] = Field(min_length=1, max_length=50)
    seriousness: Text
    likelihood: Text
    consequences: Text
    proposed_class: ClassName | None = None
    reason: Reason


class NewBenefitRisk(Input):
    condition_severity: Text
    alternatives: Text
    safety_profile: Text
    reason: Reason


class ConflictInput(Input):
    product: Short
    nature: Text


class MemberInput(Input):
    name: Short
    conflicts: list[ConflictInput] = Field(default_factory=list, max_length=50)
    waiver: str | None = Field(default=None, min_length=1, max_length=4000)


class QuestionInput(Input):
    key: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")
    text: Text


class NewReview(Input):
    """Refer the investigation to an advisory committee (our own step, not Part 7's)."""

    members: list[MemberInput] = Field(min_length=1, max_length=100)
    questions: list[QuestionInput] = Field(min_length=1, max_length=50)
    waivers_allow_voting: bool = False
    quorum: int | None = Field(default=None, ge=1, le=100)
    reason: Reason


class NewMember(MemberInput):
    reason: Reason


class NewConflict(ConflictInput):
    member: Short
    reason: Reason


class NewVote(Input):
    member: Short
    question: str = Field(min_length=1, max_length=60)
    choice: Literal["yes", "no", "abstain"]
    reason: Reason


class NewRecommendation(Input):
    recommendation: Text
    reason: Reason


class NewDecision(Input):
    kind: Literal["no_action", "label_change", "market_withdrawal", "recall"]
    rationale: Text
    proposed_class: ClassName | None = None
    reason: Reason


class Reasoned(Input):
    reason: Reason


# -- recalls -------------------------------------------------------------------------------

class FirmInput(Input):
    name: Short
    address_1: Short | None = None
    address_2: Short | None = None
    city: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    state: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    postal_code: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    country: Annotated[str, Field(min_length=1, max_length=60)] | None = None


class LotInput(Input):
    number: LotText
    expiry: Day | None = None
    ndc: str | None = Field(default=None, min_length=10, max_length=20,
                            description="the package NDC the lot is of (any usual form)")


class ProductInput(Input):
    description: Text
    ndcs: list[Annotated[str, Field(min_length=10, max_length=20)]] = Field(
        default_factory=list, max_length=100)
    quantity: Short | None = None
    lots: list[LotInput] = Field(default_factory=list, max_length=1_000)
    all_lots: bool = False
    code_info: Text | None = None


class NewRecall(Input):
    """A recall (or withdrawal, correction, stock recovery) a firm starts directly."""

    kind: Literal["recall", "correction", "market_withdrawal", "stock_recovery"] = "recall"
    reason_for_recall: Text
    reason_category: Short | None = None
    products: list[ProductInput] = Field(min_length=1, max_length=500)
    firm: FirmInput | None = Field(default=None, description="default: the firm's "
                                   "organisation (the account's own, for a manufacturer)")
    firm_organisation_id: RowId | None = None
    distribution_pattern: Text | None = None
    reason: Reason


class RecallFromInvestigation(Input):
    """A recall or market withdrawal, as a decided investigation decided. By default its
    reason is the decision's rationale and its one product the investigation's product
    with the investigation's lots."""

    reason_for_recall: Text | None = None
    reason_category: Short | None = None
    products: list[ProductInput] | None = Field(default=None, min_length=1, max_length=500)
    firm: FirmInput | None = None
    firm_organisation_id: RowId | None = None
    distribution_pattern: Text | None = None
    reason: Reason


PlainTransition = Literal["triage", "initiate", "initiate_on_request", "order_recall",
                          "publish", "start_notifying", "respond", "complete", "terminate",
                          "refuse_termination"]


class RecallStepInput(Input):
    """A Part 7 transition that carries nothing but its reason (classification, strategy,
    status reports and the termination request have their own inputs)."""

    transition: PlainTransition
    reason: Reason
    acting_as: ActingAs = None


class Classification(Input):
    classification: ClassName
    reason: Reason
    acting_as: ActingAs = None


class Strategy(Input):
    """§7.42(b): depth, public warning, effectiveness-check level; and the patient advice
    the hazard calls for (issue 6 §3; checked as `recalls.model.Hazard`): none given, the
    notices say keep taking it until switched; stop_now needs the reason."""

    depth: Literal["wholesale", "retail", "consumer"]
    public_warning: Literal["none", "general", "specialised"]
    effectiveness_check: Literal["A", "B", "C", "D", "E"]
    patient_action: Literal["keep_taking", "stop_now"] | None = Field(
        default=None, description="what patient notices tell patients to do with the "
        "medicine (default: keep_taking, until the prescriber or pharmacist switches them)")
    stop_reason: str | None = Field(
        default=None, max_length=4000,
        description="required with stop_now: the danger that makes stopping the right advice")
    plain_words: str | None = Field(
        default=None, max_length=4000,
        description="the problem in words a patient follows (default: the recall's reason)")
    reason: Reason
    acting_as: ActingAs = None


Count = Annotated[int, Field(ge=0, le=MAX_ID)]
Method = Literal["letter", "telephone", "press_release", "email", "fax", "visit", "other"]


class NewStatusReport(Input):
    """The items of §7.53."""

    as_of: Day
    consignees_notified: Count
    notified_on: Day | None = None
    methods: list[Method] = Field(default_factory=list, max_length=7)
    consignees_responding: Count = 0
    quantity_on_hand: Count = 0
    non_responders: Count = 0
    quantity_returned: Count = 0
    quantity_corrected: Count = 0
    effectiveness_checks: Count = 0
    effectiveness_results: str = Field(default="", max_length=8000)
    estimated_completion: Day | None = None
    non_responder_ids: list[Short] = Field(default_factory=list, max_length=10_000)
    reason: Reason
    acting_as: ActingAs = None


class NewTerminationRequest(Input):
    """§7.55(b): the written request and the disposition; the latest status report filed
    goes with it."""

    written_request: Text
    disposition: Text
    requested_on: Day | None = Field(default=None, description="default: today")
    reason: Reason
    acting_as: ActingAs = None
