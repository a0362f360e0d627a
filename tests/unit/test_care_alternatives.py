"""Alternatives for a patient whose medicine is recalled (care.alternatives.propose), on
plain PatientRecord values: first the same medicine from lots that are not recalled, then
the medicines the label indicates for the patient's condition in the engine's order,
never one with a critical finding."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medsafe.assessment.engine import assess
from medsafe.assessment.patient import (
    Concept,
    ConditionEntry,
    LabResult,
    MedicationEntry,
    PatientRecord,
)
from medsafe.care.alternatives import StockLot, propose
from medsafe.care.model import Proposal
from medsafe.knowledge.catalog import Catalog

TODAY = date(2026, 11, 26)
CATALOG = Catalog.load()
RECALLED = frozenset({"ALD-2611A", "ALD-2611B"})
DOSE = "10 mg three times daily"


def ms_patient(*medicines: str, crcl: float = 90.0) -> PatientRecord:
    """Spasticity from multiple sclerosis, on baclofen, normal liver tests on record."""
    return PatientRecord(
        id="p-ms",
        birth_date=date(1978, 4, 2),
        conditions=(ConditionEntry(Concept(text="Multiple sclerosis")),),
        medications=tuple(MedicationEntry(Concept(text=m))
                          for m in ("Baclofen 10 mg tablet", *medicines)),
        labs=(LabResult("crcl", crcl), LabResult("alt", 20.0, upper_limit=40.0),
              LabResult("ast", 22.0, upper_limit=40.0)),
    )


def lot(number: str, *, product: int = 10, strength: str = "10 mg", route: str | None = "oral",
        expiry: date | None = date(2027, 6, 30), quantity: int = 90,
        ingredient: str = "baclofen") -> StockLot:
    return StockLot(number, product, ingredient, strength, route, expiry, quantity)


def run(record: PatientRecord, stock: list[StockLot], limit: int = 5,
        dose: str | None = DOSE) -> tuple[Proposal, ...]:
    return propose(record, CATALOG, recalled_ingredient="baclofen", recalled_lots=RECALLED,
                   current_dose_text=dose, stock=stock, today=TODAY, limit=limit)


def test_a_baclofen_patient_with_ms_is_first_offered_baclofen_from_a_lot_not_recalled() -> None:
    stock = [lot("ALD-2611A"), lot("BRW-0042", product=11), lot("ALD-2702")]
    proposals = run(ms_patient(), stock)
    first = proposals[0]
    assert (first.rank, first.kind, first.ingredient_id) == (1, "same-medicine", "baclofen")
    assert first.lots == ("ALD-2702",)  # same strength and units: the lower product id
    assert not set(first.lots) & RECALLED
    assert first.transition.kind == "none"
    assert first.dose_start == DOSE  # keep the current dose
    assert all(p.kind == "switch" for p in proposals[1:])


def test_the_same_medicine_prefers_the_patients_strength_and_pairs_lots_with_their_product(
) -> None:
    stock = [lot("ALD-2611A", product=10, strength="10 mg"),
             lot("BIG-20", product=20, strength="20 mg", quantity=5000),
             lot("TEN-1", product=11, strength="10mg", expiry=date(2027, 3, 1)),
             lot("TEN-2", product=11, strength="10mg", expiry=date(2027, 1, 1))]
    first = run(ms_patient(), stock)[0]
    assert first.product_id == 11
    assert first.lots == ("TEN-2", "TEN-1")  # earliest expiry first, all of one product


@pytest.mark.parametrize("stock", [
    [lot("ALD-2611A"), lot("ALD-2611B")],  # only recalled lots
    [lot("ALD-2611A"), lot("OLD-1", expiry=date(2026, 11, 1))],  # the other lot expired
    [lot("OLD-2", expiry=TODAY)],  # expires today: not after today
    [lot("NODATE", expiry=None)],  # expiry unknown: cannot be shown in date
    [lot("EMPTY", quantity=0)],  # none left
    [lot("PUMP", route="intrathecal", strength="2000 mcg")],  # another route is not the same
    [lot("TIZ", ingredient="tizanidine", strength="4 mg")],  # another medicine
    [],
], ids=["recalled", "expired", "expires-today", "no-expiry", "empty", "other-route",
        "other-medicine", "no-stock"])
def test_no_same_medicine_proposal_without_a_usable_unrecalled_lot(stock: list[StockLot]
                                                                   ) -> None:
    proposals = run(ms_patient(), stock)
    assert proposals, "other medicines are still proposed"
    assert all(p.kind == "switch" for p in proposals)
    assert [p.rank for p in proposals] == list(range(1, len(proposals) + 1))


def test_the_same_medicine_is_not_offered_when_the_engine_finds_it_critical() -> None:
    # Baclofen with an opioid: "respiratory depression and death" is a major, critical
    # interaction (baclofen.yaml interactions, Canadian/Asian monographs).
    proposals = run(ms_patient("Oxycodone 5 mg tablet"), [lot("GOOD-1")])
    assert "baclofen" not in [p.ingredient_id for p in proposals]
    assert all(note.severity != "critical" for p in proposals for note in p.findings)


@pytest.mark.parametrize("inhibitor", ["Ciprofloxacin 500 mg tablet", "Fluvoxamine 100 mg"])
def test_a_patient_on_a_potent_cyp1a2_inhibitor_is_never_offered_tizanidine(inhibitor: str
                                                                            ) -> None:
    # tizanidine.yaml: contraindicated with potent CYP1A2 inhibitors (fluvoxamine,
    # ciprofloxacin), label section 4.
    record = ms_patient(inhibitor)
    assessment = assess(record, CATALOG, today=TODAY, drugs=["tizanidine"])
    assert assessment.option("tizanidine").suitability == "contraindicated"
    proposals = run(record, [lot("GOOD-1")], limit=10)
    assert "tizanidine" not in [p.ingredient_id for p in proposals]
    assert proposals  # the patient still gets alternatives


def test_without_an_inhibitor_tizanidine_is_proposed_with_a_cross_titration() -> None:
    proposals = run(ms_patient(), [], limit=10)
    tizanidine = next(p for p in proposals if p.ingredient_id == "tizanidine")
    assert tizanidine.kind == "switch"
    assert tizanidine.transition.kind == "cross-titration"
    assert tizanidine.dose_source
    assert "tizanidine" in tizanidine.dose_source.lower()


def test_switches_keep_the_engine_order_and_the_limit() -> None:
    record = ms_patient()
    proposals = run(record, [lot("GOOD-1")], limit=3)
    assert len(proposals) == 3
    switches = [p.ingredient_id for p in proposals if p.kind == "switch"]
    ranked = [o.candidate.id for o in assess(
        PatientRecord(id=record.id, birth_date=record.birth_date,
                      conditions=record.conditions, labs=record.labs),
        CATALOG, today=TODAY,
        drugs=["baclofen", "botulinum-toxin-a", "dantrolene", "diazepam", "tizanidine"],
    ).options if o.candidate.id != "baclofen"
        and all(f.severity != "critical" for f in o.findings)]
    assert switches == ranked[: len(switches)]
    assert [p.rank for p in proposals] == [1, 2, 3]


def test_only_medicines_the_label_supports_for_the_condition_are_proposed() -> None:
    # Cyclobenzaprine, methocarbamol and carisoprodol are labelled for acute
    # musculoskeletal conditions, not for spasticity from multiple sclerosis.
    proposals = run(ms_patient(), [], limit=20)
    ids = {p.ingredient_id for p in proposals}
    assert ids.isdisjoint({"cyclobenzaprine", "methocarbamol", "carisoprodol", "baclofen"})
    assert "tizanidine" in ids
    assert "dantrolene" in ids


def test_a_patient_with_no_treated_condition_gets_no_switch() -> None:
    record = PatientRecord(id="p-none", medications=(
        MedicationEntry(Concept(text="Baclofen 10 mg tablet")),))
    proposals = run(record, [lot("GOOD-1")])
    assert [p.kind for p in proposals] == ["same-medicine"]


def test_the_recalled_medicine_is_assessed_as_gone_and_its_overlap_is_a_transition_caution(
) -> None:
    proposals = run(ms_patient(), [], limit=10)
    for proposal in proposals:
        assert all(note.kind != "duplicate-therapy" for note in proposal.findings)
        assert all("Baclofen" not in note.summary for note in proposal.findings
                   if note.kind == "interaction")
    tizanidine = next(p for p in proposals if p.ingredient_id == "tizanidine")
    overlap = [c for c in tizanidine.transition.cautions if "both are taken" in c]
    assert overlap
    assert "CNS depress" in overlap[0]
    assert any("Zanaflex" in s for s in tizanidine.transition.sources)


def test_every_switch_from_baclofen_carries_a_taper_or_asks_the_prescriber_for_one() -> None:
    for dose in (DOSE, "5 mg once daily", "as directed"):
        for proposal in run(ms_patient(), [], limit=10, dose=dose):
            plan = proposal.transition
            assert plan.kind in ("taper", "cross-titration")
            assert plan.needs_prescriber_steps or (plan.stop and plan.stop[-1].stop)


def test_each_switch_explains_its_rank_with_the_label_statement() -> None:
    proposal = next(p for p in run(ms_patient(), [], limit=10)
                    if p.ingredient_id == "dantrolene")
    assert any(r.startswith("Ranked ") for r in proposal.reasons)
    assert any("Label: Dantrolene (oral) is indicated for multiple sclerosis" in r
               for r in proposal.reasons)
    assert all(note.source for note in proposal.findings if note.kind == "indication")


def test_proposals_are_deterministic() -> None:
    stock = [lot("B", product=12), lot("A", product=11), lot("ALD-2611A")]
    assert run(ms_patient(), stock) == run(ms_patient(), list(reversed(stock)))


CONDITIONS = ["Multiple sclerosis", "Spinal cord injury", "Cerebral palsy", "Stroke",
              "Acute low back pain", "Active liver disease", "Epilepsy", "Psychosis",
              "Myasthenia gravis", "Sleep apnoea", "Pregnancy", "Heart failure"]
MEDICINES = ["Oxycodone 5 mg tablet", "Ciprofloxacin 500 mg", "Fluvoxamine 100 mg",
             "Phenelzine", "Lithium", "Amiodarone", "Verapamil", "Sertraline",
             "Amitriptyline", "Lisinopril", "Estradiol", "Alcohol"]


@st.composite
def records(draw: st.DrawFn) -> PatientRecord:
    labs = [LabResult("crcl", draw(st.floats(5, 150, allow_nan=False)))]
    if draw(st.booleans()):
        labs.append(LabResult("child-pugh", None, category=draw(st.sampled_from("ABC"))))
    if draw(st.booleans()):
        labs.append(LabResult("alt", draw(st.floats(5, 400, allow_nan=False)),
                              upper_limit=40.0))
    return PatientRecord(
        id="p-random",
        birth_date=date(draw(st.integers(1930, 2010)), 6, 1),
        conditions=tuple(ConditionEntry(Concept(text=c)) for c in
                         draw(st.lists(st.sampled_from(CONDITIONS), max_size=3, unique=True))),
        medications=tuple(MedicationEntry(Concept(text=m)) for m in
                          ["Baclofen 10 mg tablet",
                           *draw(st.lists(st.sampled_from(MEDICINES), max_size=3))]),
        labs=tuple(labs),
        pregnant=draw(st.sampled_from([None, False, True])),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(), st.sampled_from([DOSE, "20 mg four times daily", "5 mg at night", "prn"]))
def test_no_proposal_ever_carries_a_critical_finding(record: PatientRecord, dose: str
                                                     ) -> None:
    proposals = run(record, [lot("GOOD-1")], limit=10, dose=dose)
    for proposal in proposals:
        assert all(note.severity != "critical" for note in proposal.findings), proposal
        assert proposal.ingredient_id != "baclofen" or proposal.kind == "same-medicine"
    assert [p.rank for p in proposals] == list(range(1, len(proposals) + 1))
