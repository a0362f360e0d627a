"""The demo's recall story (DESIGN.md, "The story the demo tells"), told through the
services with the demo accounts as its authors:

1. rita-regulator validates the signals that detection by lot raised on the story's two
   baclofen lots (the stored run by lot within baclofen), and later marks them under
   assessment;
2. mo-manufacturer, the firm that makes them, opens an investigation from those signals
   and the cluster of cases of the story's reaction on the two lots, attaches the
   analysis by reference (signals, case series, detection run), records the lots' test
   results (SYNTHETIC, and labelled so), writes benefit–risk notes and evaluates the
   health hazard with the factors of 21 CFR 7.41(a), proposing Class II. Without a stored
   run by lot (`demo.store_demo_signal_runs` stores none when the prior's fit is not
   trusted, as at the default 3,000 patients) there are no signals, and the
   investigation opens from the case cluster alone;
3. rita-regulator refers it to an advisory review: three synthetic members, one of whom
   declares a conflict on the product and so does not vote, two questions, the votes and
   the committee's recommendation (recall);
4. mo-manufacturer decides to recall, creates the recall of the two lots from the
   decision and initiates it; rita-regulator classifies it Class II; the firm sets the
   strategy (consumer depth, a general public warning, effectiveness checks at level B);
   the regulator publishes it; the firm starts notifying.

It stops there: the patients' acknowledgements, the alternatives, the diaries and the
termination are walked in the browser.

Resumable and idempotent: the story finds its investigation (the firm's, of the story's
product) and the recall made from it, and takes only the steps still to take, so a demo
started again on the same folder repeats nothing, and one stopped half-way goes on from
where it stood.

No clinical statement of our own: the hazard evaluation and the benefit–risk notes quote
the knowledge base with each quotation's source, and otherwise state counts read from
the store; the class's meaning is the regulation's (21 CFR 7.3(m)(2)); the test results
are synthetic and say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import distinct, func, select

from medsafe.errors import NotFound
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import Indication
from medsafe.population.demo import STORY_REACTION, demo_principal, story_lot
from medsafe.recalls import investigation_service as investigations
from medsafe.recalls import service as recalls
from medsafe.recalls.inputs import (
    Classification,
    ConflictInput,
    LotInput,
    MemberInput,
    NewAnalysis,
    NewBenefitRisk,
    NewDecision,
    NewHazardEvaluation,
    NewInvestigation,
    NewLotTest,
    NewRecommendation,
    NewReview,
    NewVote,
    PlainTransition,
    ProductInput,
    QuestionInput,
    RecallFromInvestigation,
    RecallStepInput,
    Strategy,
)
from medsafe.recalls.investigation_service import InvestigationView
from medsafe.recalls.notices import withdrawal_caution
from medsafe.recalls.service import RecallDetail
from medsafe.records import now
from medsafe.security.principal import Principal
from medsafe.signals import management
from medsafe.signals.management import SignalSummary
from medsafe.store.repositories.signals import LOT_SEPARATOR, counted_cases
from medsafe.store.schema import (
    Case,
    CaseDrug,
    CaseReaction,
    Dispensing,
    InvestigationRow,
    Lot,
    Organisation,
    Product,
    Stock,
)
from medsafe.store.uow import UnitOfWork, UowFactory

REGULATOR, FIRM = "rita-regulator", "mo-manufacturer"
SYNTHETIC = "SYNTHETIC demo result"
CLASS_II = ("Class II: \"a situation in which use of, or exposure to, a violative product "
            "may cause temporary or medically reversible adverse health consequences or "
            "where the probability of serious adverse health consequences is remote\" "
            "(21 CFR 7.3(m)(2))")
# The synthetic test results, one row per lot in order: assay and dissolution, each below
# a specification that is itself part of the synthetic record (not a pharmacopoeia's).
ASSAY = ("82.6% of the labelled amount", "84.1% of the labelled amount")
ASSAY_SPEC = "90.0% to 110.0% of the labelled amount (synthetic specification)"
DISSOLUTION = ("68% dissolved at 45 minutes", "71% dissolved at 45 minutes")
DISSOLUTION_SPEC = "not less than 80% dissolved at 45 minutes (synthetic specification)"
MEMBERS = (("Dr Ines Varga (synthetic member)", None),
           ("Dr Tomas Lind (synthetic member)", None),
           ("Dr Rosa Imani (synthetic member)",
            "holds shares in the recalling firm (synthetic declaration)"))
T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class StoryLot:
    id: int
    number: str
    expiry: date | None


@dataclass(frozen=True, slots=True)
class Story:
    """What the story is about, read from the store."""

    product_id: int
    product: str  # the investigation's product: name, maker, code
    product_name: str
    product_code: str
    code_system: str
    ingredient: str
    event: str  # the reaction that clusters on the two lots
    lots: tuple[StoryLot, ...]
    cases: tuple[int, ...]  # the cluster: counted cases with the event on the lots
    signals: tuple[SignalSummary, ...]  # detection by lot's signals on (lot, event)

    @property
    def numbers(self) -> str:
        return " and ".join(lot.number for lot in self.lots)


@dataclass(frozen=True, slots=True)
class StoryOutcome:
    investigation_id: int
    recall_id: int
    recall_number: str | None
    state: str
    classification: str | None
    steps_taken: int  # 0: everything was done already
    notices_queued: int  # by the recall's publish and start_notifying steps


def tell_recall_story(uows: UowFactory, catalog: Catalog,
                      say: Callable[[str], None] = lambda _: None) -> StoryOutcome:
    """Take the story's steps still to take (all of them the first time); see the module
    docstring. The demo accounts must exist (`demo.create_demo_accounts`)."""
    with uows() as uow:
        regulator, firm = demo_principal(uow, REGULATOR), demo_principal(uow, FIRM)
        story = _story(uow, regulator)
        found = _investigation(uow, firm, story)
    teller = _Teller(uows, catalog, regulator, firm, story, say)
    investigation = teller.investigation(found)
    detail = teller.recall(investigation)
    queued = sum(int(step.detail.get("notices_queued", 0)) for step in detail.history)
    return StoryOutcome(
        investigation_id=investigation.id, recall_id=detail.summary.id,
        recall_number=detail.summary.recall_number, state=detail.summary.state,
        classification=detail.summary.classification, steps_taken=teller.steps,
        notices_queued=queued)


# -- what the story is about ---------------------------------------------------------------

def _story(uow: UnitOfWork, regulator: Principal) -> Story:
    """The story's lots: the demo's story lot, and the other lot of its product with the
    most reports of the story's reaction; the cluster of cases, and detection's signals
    on them."""
    first = story_lot(uow)
    product = uow.session.get_one(Product, first.product_id)
    maker = uow.session.get_one(Organisation, product.manufacturer_id)
    event = STORY_REACTION
    second_id = uow.session.execute(
        select(CaseDrug.lot_id)
        .join(Lot, Lot.id == CaseDrug.lot_id)
        .join(CaseReaction, CaseReaction.case_id == CaseDrug.case_id)
        .join(Case, Case.id == CaseDrug.case_id)
        .where(Lot.product_id == product.id, Lot.id != first.id,
               CaseReaction.term == event, counted_cases())
        .group_by(CaseDrug.lot_id)
        .order_by(func.count(distinct(CaseDrug.case_id)).desc(), CaseDrug.lot_id)
        .limit(1)).scalar_one_or_none()
    if second_id is None:
        raise NotFound(f"no second lot of {product.name} has a report of {event}: the "
                       "population holds no story to tell")
    lots = sorted((first, uow.session.get_one(Lot, second_id)), key=lambda lot: lot.id)
    cases = uow.session.execute(
        select(CaseDrug.case_id)
        .join(CaseReaction, CaseReaction.case_id == CaseDrug.case_id)
        .join(Case, Case.id == CaseDrug.case_id)
        .where(CaseDrug.lot_id.in_([lot.id for lot in lots]), CaseReaction.term == event,
               counted_cases())
        .distinct().order_by(CaseDrug.case_id)).scalars().all()
    signals: list[SignalSummary] = []
    for lot in lots:
        label = f"{product.name}{LOT_SEPARATOR}{lot.lot_number}"
        found, _ = management.list_signals(uow, regulator, axis="lot", drug=label,
                                           event=event)
        signals.extend(s for s in found if s.drug == label and s.event == event)
    return Story(
        product_id=product.id, product=f"{product.name}, {maker.name}, product code "
        f"{product.code}", product_name=product.name, product_code=product.code,
        code_system=product.code_system, ingredient=product.ingredient_id, event=event,
        lots=tuple(StoryLot(lot.id, lot.lot_number, lot.expiry) for lot in lots),
        cases=tuple(cases), signals=tuple(signals))


def _investigation(uow: UnitOfWork, firm: Principal, story: Story) -> InvestigationView | None:
    """The story's investigation, if it was opened already: the firm's first of the
    story's product."""
    found = uow.session.execute(
        select(InvestigationRow.id)
        .where(InvestigationRow.product == story.product,
               InvestigationRow.opened_by == firm.username)
        .order_by(InvestigationRow.id).limit(1)).scalar_one_or_none()
    return None if found is None else investigations.read_investigation(uow, firm, found)


@dataclass(frozen=True, slots=True)
class Exposure:
    """Who received the lots, and what is left, in the store."""

    patients: int
    dispensings: int
    units_dispensed: int
    first: date | None
    last: date | None
    units_on_hand: int
    pharmacies: int  # that hold or dispensed them
    other_lots: int  # the product's other lots
    other_patients: int  # dispensed the product's other lots
    other_cases: int  # counted cases with the event on the product's other lots


def _exposure(uow: UnitOfWork, story: Story) -> Exposure:
    ids = [lot.id for lot in story.lots]
    patients, dispensings, units, first, last = uow.session.execute(
        select(func.count(distinct(Dispensing.patient_id)), func.count(),
               func.coalesce(func.sum(Dispensing.quantity), 0),
               func.min(Dispensing.dispensed_on), func.max(Dispensing.dispensed_on))
        .where(Dispensing.lot_id.in_(ids))).one()
    on_hand = uow.session.execute(select(func.coalesce(func.sum(Stock.quantity), 0))
                                  .where(Stock.lot_id.in_(ids), Stock.quantity > 0)
                                  ).scalar_one()
    pharmacies = {*uow.session.execute(select(Dispensing.pharmacy_id)
                                       .where(Dispensing.lot_id.in_(ids))).scalars(),
                  *uow.session.execute(select(Stock.pharmacy_id)
                                       .where(Stock.lot_id.in_(ids), Stock.quantity > 0)
                                       ).scalars()}
    other_lots = select(Lot.id).where(Lot.product_id == story.product_id, Lot.id.not_in(ids))
    other_count = uow.session.execute(select(func.count()).select_from(
        other_lots.subquery())).scalar_one()
    other_patients = uow.session.execute(
        select(func.count(distinct(Dispensing.patient_id)))
        .where(Dispensing.lot_id.in_(other_lots))).scalar_one()
    other_cases = uow.session.execute(
        select(func.count(distinct(CaseDrug.case_id)))
        .join(CaseReaction, CaseReaction.case_id == CaseDrug.case_id)
        .join(Case, Case.id == CaseDrug.case_id)
        .where(CaseDrug.lot_id.in_(other_lots), CaseReaction.term == story.event,
               counted_cases())).scalar_one()
    return Exposure(patients=int(patients), dispensings=int(dispensings),
                    units_dispensed=int(units), first=first, last=last,
                    units_on_hand=int(on_hand), pharmacies=len(pharmacies),
                    other_lots=int(other_count), other_patients=int(other_patients),
                    other_cases=int(other_cases))


def _other_products(uow: UnitOfWork, story: Story) -> list[str]:
    """The store's other products of the story's ingredient, with their makers."""
    rows = uow.session.execute(
        select(Product.name, Organisation.name)
        .join(Organisation, Organisation.id == Product.manufacturer_id)
        .where(Product.ingredient_id == story.ingredient, Product.id != story.product_id)
        .order_by(Product.name, Organisation.name)).all()
    return [f"{name}, {maker}" for name, maker in rows]


def _reactions(uow: UnitOfWork, story: Story) -> str:
    """The reactions the counted cases on the two lots report, most reported first."""
    rows = uow.session.execute(
        select(CaseReaction.term, func.count(distinct(CaseReaction.case_id)))
        .join(CaseDrug, CaseDrug.case_id == CaseReaction.case_id)
        .join(Case, Case.id == CaseReaction.case_id)
        .where(CaseDrug.lot_id.in_([lot.id for lot in story.lots]), counted_cases())
        .group_by(CaseReaction.term)
        .order_by(func.count(distinct(CaseReaction.case_id)).desc(), CaseReaction.term)
    ).all()
    return ", ".join(f"{term} {count}" for term, count in rows)


def _statistics(signal: SignalSummary) -> str:
    stats = signal.statistics
    if stats is None:
        return f"{signal.drug}: {signal.event}"
    figures = [f"n={stats.n:g}"]
    figures += [f"{name} {value:.2f}" for name, value in (
        ("EB05", stats.eb05), ("IC025", stats.ic025), ("PRR", stats.prr)) if value is not None]
    return (f"{signal.drug}: {signal.event}, {', '.join(figures)} (run {stats.run_id}, "
            f"flagged by {stats.signal_by or 'none'})")


# -- the steps -----------------------------------------------------------------------------

class _Teller:
    """Takes each step still to take, as its author, one transaction each."""

    def __init__(self, uows: UowFactory, catalog: Catalog, regulator: Principal,
                 firm: Principal, story: Story, say: Callable[[str], None]) -> None:
        self.uows = uows
        self.catalog = catalog
        self.regulator = regulator
        self.firm = firm
        self.story = story
        self.say = say
        self.steps = 0

    def _take(self, what: str, use_case: Callable[Concatenate[UnitOfWork, P], T],
              *args: P.args, **kwargs: P.kwargs) -> T:
        """One use case in a unit of work of its own (it commits), told to `say`."""
        with self.uows() as uow:
            done = use_case(uow, *args, **kwargs)
        self.steps += 1
        self.say(what)
        return done

    # -- the investigation -----------------------------------------------------------------

    def investigation(self, found: InvestigationView | None) -> InvestigationView:
        self._validate_signals()
        view = found or self._open()
        if view.state == "open":
            view = self._gather(view)
        if view.state == "hazard_evaluated":
            view = self._refer(view)
        if view.state == "advisory_review":
            view = self._vote_and_decide(view)
        for signal in self.story.signals:
            if signal.status == "validated":
                self._take(f"signal {signal.id} under assessment", management.advance,
                           self.regulator, signal.id, "under_assessment",
                           note=f"assessed in investigation {view.id}")
        return view

    def _validate_signals(self) -> None:
        fresh: list[SignalSummary] = []
        for signal in self.story.signals:
            if signal.status == "new":
                signal = self._take(f"signal {signal.id} validated by {REGULATOR}",
                                    management.advance, self.regulator, signal.id,
                                    "validated", note=f"detection by lot: {_statistics(signal)}")
            fresh.append(signal)
        self.story = replace(self.story, signals=tuple(fresh))

    def _open(self) -> InvestigationView:
        story = self.story
        flagged = f"; detection by lot flagged them ({len(story.signals)} signals)"
        spec = NewInvestigation(
            product=story.product, origin="signal" if story.signals else "case_cluster",
            signal_id=story.signals[0].id if story.signals else None,
            case_ids=list(story.cases), lots=[lot.number for lot in story.lots],
            reason=f"{len(story.cases)} reports of {story.event} cluster on lots "
                   f"{story.numbers}" + (flagged if story.signals else ""))
        return self._take(f"investigation opened by {FIRM}",
                          investigations.open_investigation, self.firm, spec)

    def _gather(self, view: InvestigationView) -> InvestigationView:
        story, iid = self.story, view.id
        with self.uows() as uow:
            exposure = _exposure(uow, story)
            reactions = _reactions(uow, story)
            others = _other_products(uow, story)
        if not view.analysis.run_ids and not view.analysis.summary:
            summary = "; ".join([
                *(_statistics(s) for s in story.signals),
                f"case series: {len(story.cases)} counted cases of {story.event} on lots "
                f"{story.numbers}; reactions reported on these lots: {reactions}"])
            view = self._take("analysis attached", investigations.attach_analysis, self.firm,
                              iid, NewAnalysis(
                                  signal_ids=[s.id for s in story.signals],
                                  case_ids=list(story.cases), summary=summary,
                                  run_ids=sorted({s.statistics.run_id for s in story.signals
                                                  if s.statistics}),
                                  reason="the statistics and the case series the "
                                         "investigation relies on"))
        tested = {(t.lot, t.test) for t in view.lot_tests}
        for index, lot in enumerate(story.lots):
            for test, result, specification in (
                    (f"Assay (HPLC), {SYNTHETIC}", ASSAY[index % 2], ASSAY_SPEC),
                    (f"Dissolution, {SYNTHETIC}", DISSOLUTION[index % 2], DISSOLUTION_SPEC)):
                if (lot.number, test) not in tested:
                    view = self._take(f"lot {lot.number}: {test}",
                                      investigations.record_lot_test, self.firm, iid,
                                      NewLotTest(lot=lot.number, test=test, result=result,
                                                 specification=specification, passed=False,
                                                 tested_on=now().date(),
                                                 reason=f"retained samples of lot "
                                                 f"{lot.number} tested by the firm "
                                                 f"({SYNTHETIC}: the lot fails)"))
        if view.benefit_risk is None:
            view = self._take("benefit-risk notes", investigations.note_benefit_risk,
                              self.firm, iid, self._benefit_risk(exposure, others))
        return self._take("health hazard evaluated (proposes Class II)",
                          investigations.evaluate_hazard, self.firm, iid,
                          self._hazard(exposure, reactions))

    def _indications(self) -> list[Indication]:
        """The oral label's indications (status "indicated"), as the knowledge base cites
        them."""
        ingredient = self.catalog.ingredient(self.story.ingredient)
        return [i for i in ingredient.indications
                if i.status == "indicated" and (not i.routes or "oral" in i.routes)]

    def _hazard(self, exposure: Exposure, reactions: str) -> NewHazardEvaluation:
        story = self.story
        ingredient = self.catalog.ingredient(story.ingredient)
        caution = withdrawal_caution(ingredient, "oral")
        indications = self._indications()
        span = (f", {exposure.first:%Y-%m-%d} to {exposure.last:%Y-%m-%d}"
                if exposure.first and exposure.last else "")
        signals = "; ".join(_statistics(s) for s in story.signals)
        return NewHazardEvaluation(
            injuries_occurred=bool(story.cases),
            injuries=f"{len(story.cases)} synthetic adverse-event reports of {story.event} "
                     f"on lots {story.numbers} (the case series attached); all reactions "
                     f"reported on these lots: {reactions}",
            exposure_conditions=(
                f"{exposure.patients:,} patients of the synthetic population were dispensed "
                f"lots {story.numbers} ({exposure.dispensings:,} dispensings, "
                f"{exposure.units_dispensed:,} units{span}); {exposure.units_on_hand:,} "
                f"units remain in stock; {exposure.pharmacies:,} pharmacies hold or "
                "dispensed them"),
            populations_at_risk=[f"patients dispensed lot {lot.number}" for lot in story.lots]
            + [f"patients treated for {i.condition.replace('-', ' ')} (label indication, "
               f"{i.source.section})" for i in indications],
            seriousness=(
                f"Lots {story.numbers} fail assay and dissolution ({SYNTHETIC}s attached). "
                "What the medicine is for, in its label's words: " + _quoted(indications)),
            likelihood=(
                f"{len(story.cases)} reports of {story.event} among {exposure.patients:,} "
                f"patients dispensed lots {story.numbers}, against "
                f"{exposure.other_cases:,} among {exposure.other_patients:,} patients "
                "dispensed the product's other lots"
                + (f"; detection by lot: {signals}" if signals else "")),
            consequences=(
                f"Reported on these lots: {reactions}."
                + (f" The label's warning on reducing or stopping {ingredient.name}: "
                   f"\"{caution.text}\" ({caution.citation})" if caution else "")),
            proposed_class="II",
            reason=f"the firm's health hazard evaluation (21 CFR 7.41(a)) proposes "
                   f"{CLASS_II}")

    def _benefit_risk(self, exposure: Exposure, others: list[str]) -> NewBenefitRisk:
        story = self.story
        ingredient = self.catalog.ingredient(story.ingredient)
        listed = f" ({'; '.join(others[:8])})" if others else ""
        return NewBenefitRisk(
            condition_severity="The condition the medicine treats, in its label's words: "
            + _quoted(self._indications()),
            alternatives=(
                f"{exposure.other_lots:,} other lots of {story.product_name} from the same "
                f"firm, with {exposure.other_cases:,} reports of {story.event} among "
                f"{exposure.other_patients:,} patients; {len(others)} other "
                f"{ingredient.name.lower()} products in the store{listed}. For each patient, "
                "the assessment engine ranks the alternatives with cited findings."),
            safety_profile=(
                f"The knowledge base's label warnings for {ingredient.name}: "
                + "; ".join(f"{w.title} ({w.source.cite()})" for w in ingredient.warnings)),
            reason="benefit-risk notes for the decision: the condition, what else there "
                   "is, the known warnings")

    def _refer(self, view: InvestigationView) -> InvestigationView:
        numbers = self.story.numbers
        spec = NewReview(
            members=[MemberInput(name=name, conflicts=[] if nature is None else [
                ConflictInput(product=view.product, nature=nature)])
                for name, nature in MEMBERS],
            questions=[
                QuestionInput(key="defect", text=f"Do the lot test results and the case "
                              f"cluster show a quality defect of lots {numbers}?"),
                QuestionInput(key="recall", text=f"Should lots {numbers} be recalled?")],
            reason="advisory review of the firm's investigation before the decision (an "
                   "advisory step of our own: Part 7 has none)")
        return self._take(f"advisory review opened by {REGULATOR}",
                          investigations.open_review, self.regulator, view.id, spec)

    def _vote_and_decide(self, view: InvestigationView) -> InvestigationView:
        committee = view.committee
        assert committee is not None  # advisory_review is entered only with one
        cast = {(v.member, v.question) for v in committee.votes}
        for member in committee.members:
            for question in committee.questions:
                if member.may_vote and (member.name, question.key) not in cast:
                    view = self._take(f"{member.name} votes yes on '{question.key}'",
                                      investigations.cast_vote, self.regulator, view.id,
                                      NewVote(member=member.name, question=question.key,
                                              choice="yes", reason=f"vote of {member.name}, "
                                              "recorded by the chair"))
        committee = view.committee
        assert committee is not None
        if committee.recommendation is None:
            outcomes = ", ".join(f"'{t.question}' {t.outcome} {t.yes}-{t.no}-{t.abstain}"
                                 for t in committee.tallies)
            barred = ", ".join(m.name for m in committee.members if not m.may_vote)
            text = (f"Recall lots {self.story.numbers} ({outcomes})"
                    + (f"; {barred} declared a conflict and did not vote" if barred else ""))
            view = self._take("committee recommends recall", investigations.recommend,
                              self.regulator, view.id, NewRecommendation(
                                  recommendation=text,
                                  reason="the committee's recommendation, as voted"))
        story = self.story
        return self._take("decision: recall (proposed Class II)", investigations.decide,
                          self.firm, view.id, NewDecision(
                              kind="recall", proposed_class="II",
                              rationale=f"Lots {story.numbers} fail assay and dissolution "
                              f"({SYNTHETIC}s); {len(story.cases)} reports of {story.event} "
                              "cluster on them; the advisory committee recommended recall",
                              reason="the firm decides to recall the two lots"))

    # -- the recall ------------------------------------------------------------------------

    def recall(self, investigation: InvestigationView) -> RecallDetail:
        if investigation.recall_id is None:
            detail = self._create(investigation)
        else:
            with self.uows() as uow:
                detail = recalls.read_recall(uow, self.firm, investigation.recall_id)
        iid, numbers = investigation.id, self.story.numbers
        while True:
            state, rid = detail.summary.state, detail.summary.id
            if state == "triaged":
                detail = self._step(rid, self.firm, "initiate",
                                    f"the firm recalls lots {numbers} of its own volition, "
                                    f"as investigation {iid} decided")
            elif state == "initiated":
                detail = self._take(f"classified Class II by {REGULATOR}", recalls.classify,
                                    self.regulator, rid, Classification(
                                        classification="II",
                                        reason=f"{CLASS_II}; the health hazard evaluation "
                                               f"of investigation {iid} proposed it"))
            elif state == "classified":
                detail = self._take("strategy set: consumer depth, general public warning, "
                                    "effectiveness checks at level B", recalls.set_strategy,
                                    self.firm, rid, Strategy(
                                        depth="consumer", public_warning="general",
                                        effectiveness_check="B",
                                        reason="patients hold the lots, so the recall "
                                               "reaches them; a general public warning; "
                                               "checks at level B (21 CFR 7.42(b))"))
            elif state == "strategy_set":
                detail = self._step(rid, self.regulator, "publish",
                                    "published in the enforcement report (21 CFR 7.50)")
            elif state == "published":
                detail = self._step(rid, self.firm, "start_notifying",
                                    "the firm notifies the pharmacies that received the "
                                    "lots (21 CFR 7.49)")
            else:
                return detail

    def _create(self, investigation: InvestigationView) -> RecallDetail:
        story = self.story
        ndc = story.product_code if story.code_system == "ndc" else None
        with self.uows() as uow:
            exposure = _exposure(uow, story)
        spec = RecallFromInvestigation(
            reason_for_recall=(
                f"Subpotent Drug: lots {story.numbers} failed assay and dissolution in the "
                f"firm's testing ({SYNTHETIC}s: assay {ASSAY[0]} and {ASSAY[1]} against "
                f"{ASSAY_SPEC}); {len(story.cases)} synthetic adverse-event reports of "
                f"{story.event} cluster on these lots"),
            reason_category="Subpotent Drug",
            products=[ProductInput(
                description=story.product, ndcs=[ndc] if ndc else [],
                quantity=f"{exposure.units_dispensed:,} units dispensed, "
                         f"{exposure.units_on_hand:,} on hand",
                lots=[LotInput(number=lot.number, expiry=lot.expiry, ndc=ndc)
                      for lot in story.lots],
                code_info="Lots " + ", ".join(
                    lot.number + (f" exp {lot.expiry:%Y-%m-%d}" if lot.expiry else "")
                    for lot in story.lots))],
            distribution_pattern=f"{exposure.pharmacies:,} pharmacies of the synthetic "
                                 "population",
            reason=f"as investigation {investigation.id} decided")
        return self._take(f"recall of lots {story.numbers} created by {FIRM}",
                          recalls.recall_from_investigation, self.firm, investigation.id,
                          spec)

    def _step(self, recall_id: int, who: Principal, transition: PlainTransition,
              reason: str) -> RecallDetail:
        return self._take(f"{transition} by {who.username}", recalls.take_step, who,
                          recall_id, RecallStepInput(transition=transition, reason=reason))


def _quoted(indications: list[Indication]) -> str:
    return " ".join(f"\"{i.text}\" ({i.source.cite()})" for i in indications)
