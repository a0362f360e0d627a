"""Clinical vignettes: one patient story each, with the expectation taken from a label fact.

Every test builds a FHIR bundle for a named persona, assesses the muscle relaxants and
asserts the specific findings the label calls for: kind, severity, the drug concerned, the
co-medication named in `with_`, the contraindicated flag and the suitability. The label
statement behind each expectation is quoted in the test's docstring. Labels are those in
data/labels/ and the facts in /work/shared/reference/cds-and-knowledge.md section 4.

Where the engine disagrees with a label fact the test is written as the label says and
marked `xfail(strict=True)` with the reason; those are engine (or knowledge) bugs to fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medsafe.assessment.engine import Assessment, Option
from medsafe.assessment.findings import SUMMARY_LIMIT, Finding
from medsafe.knowledge.catalog import Catalog
from tests.conftest import assess_bundle
from tests.support.fhir_builder import RXNORM, PatientBundle

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
OXYCODONE = "Oxycodone 5 mg tablet"
OXYCODONE_RXCUI = "7804"

# -- personas -------------------------------------------------------------------------------
# Ages are on the fixed assessment day, 2026-11-26 (tests/conftest.py).


def ana_ms_patient() -> PatientBundle:
    """Ana, 45, spasticity from multiple sclerosis; normal eGFR, ALT and AST on record."""
    return (PatientBundle("ana", birth_date="1981-03-14", gender="female")
            .condition("Multiple sclerosis", snomed="24700007")
            .egfr(92).alt(22).ast(25))


def mia_ms_patient_without_labs() -> PatientBundle:
    """Mia, 38, multiple sclerosis; no kidney or liver results on record at all."""
    return (PatientBundle("mia", birth_date="1988-07-02", gender="female")
            .condition("Multiple sclerosis", snomed="24700007"))


def ben_back_pain_patient() -> PatientBundle:
    """Ben, 50, acute low back pain; normal eGFR, ALT and AST on record."""
    return (PatientBundle("ben", birth_date="1976-04-20", gender="male")
            .condition("Acute low back pain")
            .egfr(88).alt(30).ast(28))


def carla_cp_patient() -> PatientBundle:
    """Carla, 30, spastic cerebral palsy; normal eGFR, ALT and AST on record."""
    return (PatientBundle("carla", birth_date="1996-05-01", gender="female")
            .condition("Cerebral palsy", snomed="128188000")
            .egfr(110).alt(18).ast(20))


def sam_sci_patient() -> PatientBundle:
    """Sam, 40, spasticity after a spinal cord injury; normal eGFR, ALT and AST."""
    return (PatientBundle("sam", birth_date="1986-01-15", gender="male")
            .condition("Spinal cord injury")
            .egfr(95).alt(25).ast(24))


def stan_stroke_patient() -> PatientBundle:
    """Stan, 62, spasticity after an ischaemic stroke; normal eGFR, ALT and AST."""
    return (PatientBundle("stan", birth_date="1964-09-09", gender="male")
            .condition("Ischemic stroke")
            .egfr(75).alt(20).ast(22))


def edith_older_ms_patient() -> PatientBundle:
    """Edith, 70, multiple sclerosis; normal eGFR, ALT and AST on record."""
    return (PatientBundle("edith", birth_date="1956-06-01", gender="female")
            .condition("Multiple sclerosis", snomed="24700007")
            .egfr(68).alt(19).ast(21))


def leo_infant_with_cp() -> PatientBundle:
    """Leo, 3 months old, spastic cerebral palsy."""
    return (PatientBundle("leo", birth_date="2026-08-20", gender="male")
            .condition("Spastic cerebral palsy"))


def dev_dialysis_patient() -> PatientBundle:
    """Dev, 58, multiple sclerosis and end-stage renal disease on haemodialysis."""
    return (PatientBundle("dev", birth_date="1968-02-11", gender="male")
            .condition("Multiple sclerosis", snomed="24700007")
            .condition("End-stage renal disease on haemodialysis")
            .alt(20).ast(20))


def rosa_rheumatoid_patient() -> PatientBundle:
    """Rosa, 55, skeletal muscle spasm resulting from rheumatoid arthritis; normal labs."""
    return (PatientBundle("rosa", birth_date="1971-10-03", gender="female")
            .condition("Rheumatoid arthritis")
            .condition("Muscle spasm")
            .egfr(85).alt(20).ast(20))


# -- helpers --------------------------------------------------------------------------------


def assess_patient(patient: PatientBundle, catalog: Catalog, *drugs: str) -> Assessment:
    """Assess the named candidates (all eight when none are named)."""
    return assess_bundle(patient.build(), catalog, list(drugs) or None)


def option_for(patient: PatientBundle, catalog: Catalog, drug: str) -> Option:
    return assess_patient(patient, catalog, drug).option(drug)


def of_kind(option: Option, kind: str) -> list[Finding]:
    return [f for f in option.findings if f.kind == kind]


def the_one(option: Option, kind: str) -> Finding:
    """The single finding of this kind on this option (fails if there are none or several)."""
    found = of_kind(option, kind)
    assert len(found) == 1, (
        f"{option.candidate.id}: expected one {kind} finding, got "
        f"{[f.summary for f in option.findings]}"
    )
    return found[0]


def naming(option: Option, kind: str, medicine: str) -> Finding:
    """The finding of this kind that names `medicine` in `with_`."""
    found = [f for f in of_kind(option, kind) if medicine in f.with_]
    assert len(found) == 1, (
        f"{option.candidate.id}: expected one {kind} finding with {medicine!r}, got "
        f"{[(f.kind, f.with_) for f in option.findings]}"
    )
    return found[0]


def code_only_medication(patient: PatientBundle, rxcui: str) -> PatientBundle:
    """A MedicationStatement that carries only an RxNorm code: no text, no display."""
    return patient.add({
        "resourceType": "MedicationStatement", "id": f"code-only-{rxcui}", "status": "active",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui}]},
        "subject": {"reference": f"Patient/{patient.patient_id}"},
    })


def example_assessments(catalog: Catalog) -> list[Assessment]:
    paths = sorted(EXAMPLES.glob("*.json"))
    assert paths, f"no example bundles in {EXAMPLES}"
    return [assess_bundle(json.loads(p.read_text(encoding="utf-8")), catalog) for p in paths]


# -- opioids and other CNS depressants -----------------------------------------------------


def test_baclofen_for_a_patient_on_oxycodone_warns_of_respiratory_depression(
        catalog: Catalog) -> None:
    """Baclofen monographs (reference notes §4): opioids -> respiratory depression, death."""
    baclofen = option_for(ana_ms_patient().medication(OXYCODONE, rxnorm=OXYCODONE_RXCUI),
                          catalog, "baclofen")
    finding = naming(baclofen, "interaction", OXYCODONE)
    assert finding.severity == "critical"  # the stated risk is death
    assert not finding.contraindicated
    assert "respiratory depression" in finding.summary
    assert finding.rule == "interaction/baclofen/opioids"
    assert baclofen.suitability == "avoid"


def test_diazepam_for_a_patient_on_oxycodone_is_avoid_under_the_boxed_warning(
        catalog: Catalog) -> None:
    """Diazepam BOXED WARNING: benzodiazepines with opioids -> profound sedation,
    respiratory depression, coma and death; reserve for patients without alternatives."""
    diazepam = option_for(ana_ms_patient().medication(OXYCODONE, rxnorm=OXYCODONE_RXCUI),
                          catalog, "diazepam")
    finding = naming(diazepam, "interaction", OXYCODONE)
    assert finding.severity == "critical"
    assert not finding.contraindicated  # "reserve concomitant prescribing", not forbidden
    assert "respiratory depression" in finding.summary
    assert finding.source is not None
    assert "BOXED WARNING" in finding.source.section
    boxed = [f for f in of_kind(diazepam, "warning") if "OPIOIDS" in f.summary]
    assert boxed, "the boxed warning itself should be shown"
    assert diazepam.suitability == "avoid"


def test_diazepam_dose_plan_for_a_patient_on_an_opioid_starts_lower(catalog: Catalog) -> None:
    """Diazepam WARNINGS, Risks from Concomitant Use with Opioids: "In patients already
    receiving an opioid analgesic, prescribe a lower initial dose of diazepam tablets"."""
    diazepam = option_for(ana_ms_patient().medication(OXYCODONE, rxnorm=OXYCODONE_RXCUI),
                          catalog, "diazepam")
    assert diazepam.dose is not None
    assert any("opioid" in a.lower() for a in diazepam.dose.adjustments), diazepam.dose


def test_baclofen_for_a_patient_on_zolpidem_warns_of_added_daytime_sleepiness(
        catalog: Catalog) -> None:
    """Baclofen: CNS effects additive with other CNS depressants; drowsiness 10-63%."""
    zolpidem = "Zolpidem 10 mg tablet"
    baclofen = option_for(ana_ms_patient().medication(zolpidem), catalog, "baclofen")
    sleep = naming(baclofen, "sleep", zolpidem)
    assert sleep.severity == "warning"
    assert sleep.summary.startswith("Daytime sleepiness")
    interaction = naming(baclofen, "interaction", zolpidem)
    assert interaction.severity == "warning"
    assert not interaction.contraindicated
    assert baclofen.suitability == "caution"


def test_cyclobenzaprine_with_phenelzine_is_a_contraindicated_interaction(
        catalog: Catalog) -> None:
    """Cyclobenzaprine CONTRAINDICATIONS: concomitant use of MAO inhibitors or within 14 days
    after their discontinuation (hyperpyretic crisis, seizures, deaths)."""
    phenelzine = "Phenelzine 15 mg tablet"
    cyclobenzaprine = option_for(ben_back_pain_patient().medication(phenelzine), catalog,
                                 "cyclobenzaprine")
    finding = naming(cyclobenzaprine, "interaction", phenelzine)
    assert finding.contraindicated
    assert finding.severity == "critical"
    assert "MAO" in finding.summary
    assert cyclobenzaprine.suitability == "contraindicated"


@pytest.mark.parametrize("medicine", ["Sertraline 50 mg tablet", "Tramadol 50 mg tablet"],
                         ids=["ssri", "tramadol"])
def test_cyclobenzaprine_with_a_serotonergic_drug_warns_of_serotonin_syndrome(
        catalog: Catalog, medicine: str) -> None:
    """Cyclobenzaprine WARNINGS: potentially life-threatening serotonin syndrome with SSRIs,
    SNRIs, TCAs, tramadol, ...; if combined use is warranted, observe carefully."""
    cyclobenzaprine = option_for(ben_back_pain_patient().medication(medicine), catalog,
                                 "cyclobenzaprine")
    finding = naming(cyclobenzaprine, "interaction", medicine)
    assert finding.severity == "critical"  # "potentially life-threatening"
    assert not finding.contraindicated  # the label allows it with careful observation
    assert "serotonin syndrome" in (finding.summary + finding.detail).lower()
    assert cyclobenzaprine.suitability == "avoid"


# -- tizanidine and CYP1A2 ------------------------------------------------------------------


@pytest.mark.parametrize("inhibitor", ["Ciprofloxacin 500 mg tablet", "Fluvoxamine 100 mg tablet"],
                         ids=["ciprofloxacin", "fluvoxamine"])
def test_tizanidine_with_a_potent_cyp1a2_inhibitor_is_contraindicated(
        catalog: Catalog, inhibitor: str) -> None:
    """Tizanidine 4 CONTRAINDICATIONS: concomitant use with fluvoxamine or ciprofloxacin
    (potent CYP1A2 inhibitors)."""
    tizanidine = option_for(ana_ms_patient().medication(inhibitor), catalog, "tizanidine")
    finding = naming(tizanidine, "interaction", inhibitor)
    assert finding.contraindicated
    assert finding.severity == "critical"
    assert tizanidine.suitability == "contraindicated"


@pytest.mark.parametrize("inhibitor", [
    "Amiodarone 200 mg tablet",
    "Ethinyl estradiol / levonorgestrel oral contraceptive",
], ids=["amiodarone", "oral-contraceptive"])
def test_tizanidine_with_another_cyp1a2_inhibitor_is_avoided_and_started_at_2_mg(
        catalog: Catalog, inhibitor: str) -> None:
    """Tizanidine 7.3/7.4: avoid other CYP1A2 inhibitors (amiodarone, oral contraceptives...);
    if clinically necessary, start at 2 mg and increase in 2-4 mg steps."""
    tizanidine = option_for(ana_ms_patient().medication(inhibitor), catalog, "tizanidine")
    finding = naming(tizanidine, "interaction", inhibitor)
    assert finding.severity in ("warning", "critical")
    assert not finding.contraindicated  # only fluvoxamine and ciprofloxacin are
    assert tizanidine.suitability != "contraindicated"
    assert tizanidine.dose is not None
    assert any("2 mg" in a for a in tizanidine.dose.adjustments), tizanidine.dose.adjustments


def test_a_stopped_or_completed_medicine_is_not_an_interaction(catalog: Catalog) -> None:
    """Only medicines the patient takes now interact: a stopped opioid and a finished course
    of ciprofloxacin must not trigger the baclofen or tizanidine label interactions."""
    patient = (ana_ms_patient()
               .medication(OXYCODONE, rxnorm=OXYCODONE_RXCUI, status="stopped")
               .medication("Ciprofloxacin 500 mg tablet", status="completed"))
    assessment = assess_patient(patient, catalog, "baclofen", "tizanidine")
    for drug in ("baclofen", "tizanidine"):
        option = assessment.option(drug)
        assert of_kind(option, "interaction") == []
        assert option.suitability == "recommended"


# -- liver ----------------------------------------------------------------------------------


def test_dantrolene_for_a_patient_with_active_hepatitis_is_contraindicated(
        catalog: Catalog) -> None:
    """Dantrolene: contraindicated in active hepatic disease, such as hepatitis and
    cirrhosis (boxed hepatotoxicity warning)."""
    dantrolene = option_for(ana_ms_patient().condition("Chronic hepatitis C"), catalog,
                            "dantrolene")
    contraindications = [f for f in dantrolene.findings if f.contraindicated]
    assert contraindications
    assert {f.kind for f in contraindications} <= {"contraindication", "hepatic"}
    assert all(f.severity == "critical" for f in contraindications)
    assert any("active liver disease" in f.summary for f in contraindications)
    assert dantrolene.suitability == "contraindicated"


def test_cyclobenzaprine_in_moderate_hepatic_impairment_is_avoid(catalog: Catalog) -> None:
    """Cyclobenzaprine CLINICAL PHARMACOLOGY, Hepatic Impairment: use in moderate to severe
    impairment is not recommended."""
    cyclobenzaprine = option_for(ben_back_pain_patient().child_pugh("B"), catalog,
                                 "cyclobenzaprine")
    finding = the_one(cyclobenzaprine, "hepatic")
    assert finding.severity == "critical"
    assert not finding.contraindicated
    assert "Child-Pugh B" in finding.summary
    assert "not recommended" in finding.detail
    assert cyclobenzaprine.suitability == "avoid"


def test_diazepam_in_severe_hepatic_insufficiency_is_contraindicated(catalog: Catalog) -> None:
    """Diazepam CONTRAINDICATIONS: severe hepatic insufficiency."""
    diazepam = option_for(ben_back_pain_patient().child_pugh("C"), catalog, "diazepam")
    finding = the_one(diazepam, "hepatic")
    assert finding.contraindicated
    assert "severe hepatic insufficiency" in finding.detail
    assert diazepam.suitability == "contraindicated"


def test_tizanidine_with_alt_over_three_times_normal_shows_aminotransferase_monitoring(
        catalog: Catalog) -> None:
    """Tizanidine 2.1: monitor aminotransferases at baseline and 1 month after the maximum
    dose. The knowledge base holds no ALT/AST > 3x ULN rule for tizanidine (tizanidine.yaml
    not_included: found only on a consumer page), so the monitoring finding is what applies."""
    patient = ana_ms_patient().alt(150, upper=40)
    assessment = assess_patient(patient, catalog, "tizanidine")
    assert "transaminases-over-3x-uln" in assessment.context.hepatic_states
    monitoring = the_one(assessment.option("tizanidine"), "monitoring")
    assert "aminotransferases" in monitoring.summary
    assert monitoring.severity == "info"


def test_no_liver_tests_on_record_is_missing_data_for_the_hepatotoxic_drugs(
        catalog: Catalog) -> None:
    """Dantrolene boxed warning (liver tests at baseline and frequently) and tizanidine 2.1
    (aminotransferases at baseline): without liver tests that is a finding, never a pass."""
    assessment = assess_patient(mia_ms_patient_without_labs(), catalog, "dantrolene",
                                "tizanidine")
    for drug in ("dantrolene", "tizanidine"):
        option = assessment.option(drug)
        liver = [f for f in of_kind(option, "missing-data") if "liver tests" in f.summary]
        assert len(liver) == 1, [f.summary for f in option.findings]
        assert liver[0].severity == "warning"
        assert option.suitability != "recommended"


# -- kidney ---------------------------------------------------------------------------------


def test_egfr_20_gives_baclofen_a_renal_warning_and_tizanidine_its_crcl_25_band(
        catalog: Catalog) -> None:
    """Baclofen WARNINGS (c): excreted unchanged by the kidneys, give with caution, dose may
    need reducing. Tizanidine 5.7: use with caution when CrCl is below 25 mL/min."""
    patient = (PatientBundle("ruth", birth_date="1972-01-01")
               .condition("Multiple sclerosis").egfr(20).alt(20).ast(20))
    assessment = assess_patient(patient, catalog, "baclofen", "tizanidine")
    baclofen = the_one(assessment.option("baclofen"), "renal")
    assert baclofen.severity == "warning"
    assert "eGFR 20" in baclofen.summary
    assert "reduce the dosage" in baclofen.detail
    tizanidine = the_one(assessment.option("tizanidine"), "renal")
    assert tizanidine.severity == "warning"
    assert "25 mL/min" in tizanidine.summary
    assert "eGFR was used in its place" in tizanidine.detail  # the label band is CrCl


def test_no_kidney_function_on_record_is_missing_data_for_baclofen(catalog: Catalog) -> None:
    """Baclofen CLINICAL PHARMACOLOGY: excreted primarily by the kidney unchanged. Without an
    eGFR or CrCl the dose cannot be judged: safe by default, a missing-data warning."""
    baclofen = option_for(mia_ms_patient_without_labs(), catalog, "baclofen")
    finding = the_one(baclofen, "missing-data")
    assert finding.severity == "warning"
    assert finding.rule == "missing-data/baclofen/kidney"
    assert "eGFR" in finding.summary
    assert baclofen.suitability == "caution"


def test_creatinine_without_an_egfr_is_missing_data_that_mentions_the_creatinine(
        catalog: Catalog) -> None:
    """Baclofen is renally cleared; a serum creatinine alone is no eGFR or CrCl, and the
    finding should say that the creatinine was seen."""
    patient = mia_ms_patient_without_labs().observation("Serum creatinine", 1.9, "mg/dL",
                                                        loinc="2160-0")
    baclofen = option_for(patient, catalog, "baclofen")
    finding = the_one(baclofen, "missing-data")
    assert finding.rule == "missing-data/baclofen/kidney"
    assert "creatinine" in finding.detail.lower()


def test_baclofen_on_dialysis_follows_the_dialysis_dose_rule(catalog: Catalog) -> None:
    """Baclofen, Canadian monograph (reference notes §4): on dialysis about 5 mg per day; in
    ESRD only if the benefit outweighs the risk."""
    baclofen = option_for(dev_dialysis_patient(), catalog, "baclofen")
    finding = the_one(baclofen, "renal")
    assert finding.severity == "warning"
    assert "dialysis" in finding.summary
    assert "5 mg per day" in finding.detail
    assert baclofen.dose is not None
    assert any("5 mg/day" in a for a in baclofen.dose.adjustments)


def test_baclofen_on_dialysis_with_an_egfr_on_record_still_gives_the_dialysis_dose(
        catalog: Catalog) -> None:
    """Same label fact as above: a dialysis patient nearly always has a low eGFR on record,
    and the dialysis dose (about 5 mg per day) is the more specific rule."""
    baclofen = option_for(dev_dialysis_patient().egfr(8), catalog, "baclofen")
    finding = the_one(baclofen, "renal")
    assert "5 mg per day" in finding.detail


def test_methocarbamol_injection_with_egfr_20_is_contraindicated(catalog: Catalog) -> None:
    """Methocarbamol injection CONTRAINDICATIONS (reference notes §4): not to be given in
    known or suspected renal pathology, because of the polyethylene glycol 300 vehicle."""
    patient = ben_back_pain_patient().egfr(20, date="2026-11-01").prefers_route("injection")
    methocarbamol = option_for(patient, catalog, "methocarbamol")
    assert methocarbamol.candidate.route in ("intramuscular", "intravenous")
    assert methocarbamol.suitability == "contraindicated"


# -- sleep ----------------------------------------------------------------------------------


def test_sleep_apnoea_flags_sedating_drugs_and_contraindicates_diazepam(
        catalog: Catalog) -> None:
    """Diazepam CONTRAINDICATIONS: sleep apnea syndrome. Baclofen (drowsiness 10-63%) and
    tizanidine (somnolence > 10%) are sedating."""
    assessment = assess_patient(ana_ms_patient().condition("Obstructive sleep apnoea"),
                                catalog, "baclofen", "tizanidine", "diazepam")
    for drug in ("baclofen", "tizanidine"):
        sleep = the_one(assessment.option(drug), "sleep")
        assert sleep.severity == "warning"
        assert sleep.rule == f"sleep/{drug}/sleep-apnoea"
    diazepam = assessment.option("diazepam")
    contraindication = the_one(diazepam, "contraindication")
    assert contraindication.contraindicated
    assert "sleep apnea" in contraindication.detail
    assert diazepam.suitability == "contraindicated"


def test_insomnia_flags_baclofen_which_lists_insomnia_in_2_to_7_percent(
        catalog: Catalog) -> None:
    """Baclofen ADVERSE REACTIONS: insomnia 2-7%."""
    baclofen = option_for(ana_ms_patient().condition("Chronic insomnia"), catalog, "baclofen")
    finding = the_one(baclofen, "sleep")
    assert finding.severity == "warning"
    assert "insomnia" in finding.summary.lower()
    assert "7%" in finding.summary
    assert baclofen.suitability == "caution"


def test_a_patient_avoiding_drowsiness_is_warned_about_baclofen(catalog: Catalog) -> None:
    """Baclofen ADVERSE REACTIONS: drowsiness 10-63% (63% vs 36% on placebo)."""
    baclofen = option_for(ana_ms_patient().avoids("drowsiness"), catalog, "baclofen")
    finding = the_one(baclofen, "tolerability-preference")
    assert finding.severity == "warning"
    assert "63%" in finding.summary
    assert baclofen.suitability == "caution"


def test_a_patient_avoiding_drowsiness_is_warned_about_tizanidine(catalog: Catalog) -> None:
    """Tizanidine ADVERSE REACTIONS: somnolence in greater than 10% of patients (very common,
    like baclofen's drowsiness), so the same warning applies."""
    tizanidine = option_for(ana_ms_patient().avoids("drowsiness"), catalog, "tizanidine")
    finding = the_one(tizanidine, "tolerability-preference")
    assert finding.severity == "warning"


# -- route ----------------------------------------------------------------------------------


def test_oral_only_patient_gets_a_route_warning_on_botulinum_toxin_and_oral_baclofen(
        catalog: Catalog) -> None:
    """Botulinum toxin A is given only by intramuscular injection; baclofen has tablets."""
    assessment = assess_patient(ana_ms_patient().prefers_route("oral"), catalog,
                                "baclofen", "botulinum-toxin-a")
    toxin = assessment.option("botulinum-toxin-a")
    finding = the_one(toxin, "route-preference")
    assert finding.severity == "warning"
    assert "oral" in finding.summary
    baclofen = assessment.option("baclofen")
    assert baclofen.candidate.route == "oral"
    assert of_kind(baclofen, "route-preference") == []
    assert baclofen.dose is not None
    assert baclofen.dose.route == "oral"


def test_injection_preference_assesses_baclofen_as_intrathecal_with_its_boxed_warning(
        catalog: Catalog) -> None:
    """Gablofen (intrathecal baclofen) BOXED WARNING: do not discontinue abruptly; a 50 mcg
    screening bolus comes first. Tizanidine has no injectable form."""
    assessment = assess_patient(ana_ms_patient().prefers_route("injection"), catalog,
                                "baclofen", "tizanidine")
    baclofen = assessment.option("baclofen")
    assert baclofen.candidate.route == "intrathecal"
    boxed = [f for f in of_kind(baclofen, "warning") if "DISCONTINUE ABRUPTLY" in f.summary]
    assert len(boxed) == 1
    assert boxed[0].severity == "warning"
    assert baclofen.dose is not None
    assert "50 mcg" in baclofen.dose.start
    tizanidine = the_one(assessment.option("tizanidine"), "route-preference")
    assert tizanidine.severity == "warning"


# -- indication -----------------------------------------------------------------------------


def test_ms_spasticity_rules_out_the_drugs_for_acute_musculoskeletal_spasm(
        catalog: Catalog) -> None:
    """Cyclobenzaprine: not effective in spasticity of cerebral or spinal cord disease;
    carisoprodol and methocarbamol are labelled only for acute painful musculoskeletal
    conditions."""
    assessment = assess_patient(ana_ms_patient(), catalog)
    for drug in ("cyclobenzaprine", "carisoprodol", "methocarbamol"):
        option = assessment.option(drug)
        finding = the_one(option, "indication")
        assert finding.severity == "critical"
        assert "not spasticity" in finding.summary
        assert option.suitability in ("avoid", "contraindicated")


def test_a_healthy_ms_patient_with_complete_data_gets_baclofen_recommended(
        catalog: Catalog) -> None:
    """Baclofen INDICATIONS: spasticity resulting from multiple sclerosis."""
    assessment = assess_patient(ana_ms_patient(), catalog)
    baclofen = assessment.option("baclofen")
    assert baclofen.suitability == "recommended"
    assert [f for f in baclofen.findings if f.severity != "info"] == []
    assert of_kind(baclofen, "indication") == []  # fully indicated: nothing to say
    assert assessment.options[0].suitability == "recommended"
    assert baclofen.dose is not None
    assert baclofen.dose.start == "5 mg three times daily"


def test_oral_baclofen_for_cerebral_palsy_is_not_recommended_and_points_to_intrathecal(
        catalog: Catalog) -> None:
    """Baclofen INDICATIONS: efficacy in cerebral palsy has not been established and it is
    not recommended; intrathecal baclofen covers spasticity of cerebral origin."""
    baclofen = option_for(carla_cp_patient(), catalog, "baclofen")
    assert baclofen.candidate.route == "oral"
    finding = the_one(baclofen, "indication")
    assert finding.severity == "critical"
    assert "not recommended" in finding.summary
    assert "intrathecal" in finding.detail.lower()
    assert baclofen.suitability == "avoid"


def test_baclofen_for_spinal_cord_injury_is_labelled_as_of_some_value(catalog: Catalog) -> None:
    """Baclofen INDICATIONS: may also be of some value in patients with spinal cord injuries
    and other spinal cord diseases."""
    baclofen = option_for(sam_sci_patient(), catalog, "baclofen")
    finding = the_one(baclofen, "indication")
    assert finding.severity == "info"
    assert "of some value" in finding.detail
    assert baclofen.suitability == "recommended"


def test_baclofen_after_a_stroke_is_not_recommended(catalog: Catalog) -> None:
    """Baclofen INDICATIONS: efficacy in stroke not established, not recommended; WARNINGS
    (d): stroke patients have shown poor tolerability."""
    baclofen = option_for(stan_stroke_patient(), catalog, "baclofen")
    indication = the_one(baclofen, "indication")
    assert indication.severity == "critical"
    assert "stroke" in indication.summary
    stroke_cautions = [f for f in baclofen.findings if f.rule == "caution/baclofen/stroke"]
    assert len(stroke_cautions) == 1
    assert "poor tolerability" in stroke_cautions[0].detail
    assert baclofen.suitability == "avoid"


def test_baclofen_for_muscle_spasm_from_a_rheumatic_disorder_is_not_indicated(
        catalog: Catalog) -> None:
    """Baclofen INDICATIONS: not indicated in the treatment of skeletal muscle spasm
    resulting from rheumatic disorders."""
    baclofen = option_for(rosa_rheumatoid_patient(), catalog, "baclofen")
    finding = the_one(baclofen, "indication")
    assert finding.severity == "critical"
    assert "rheumatic" in finding.detail


def test_acute_low_back_pain_favours_methocarbamol_and_finds_baclofen_unlabelled(
        catalog: Catalog) -> None:
    """Methocarbamol INDICATIONS: adjunct for acute, painful musculoskeletal conditions.
    Baclofen's indications are spasticity of MS (and spinal cord disease), not back pain."""
    assessment = assess_patient(ben_back_pain_patient(), catalog)
    methocarbamol = assessment.option("methocarbamol")
    assert methocarbamol.suitability == "recommended"
    assert of_kind(methocarbamol, "indication") == []
    baclofen = assessment.option("baclofen")
    finding = the_one(baclofen, "indication")
    assert finding.severity == "warning"
    assert "not labelled" in finding.summary
    assert methocarbamol.rank < baclofen.rank


# -- allergy, pregnancy, age ----------------------------------------------------------------


def test_an_allergy_to_baclofen_contraindicates_baclofen(catalog: Catalog) -> None:
    """Baclofen CONTRAINDICATIONS: hypersensitivity to baclofen."""
    baclofen = option_for(ana_ms_patient().allergy("Baclofen", reaction="Urticaria"), catalog,
                          "baclofen")
    finding = the_one(baclofen, "allergy")
    assert finding.contraindicated
    assert finding.severity == "critical"
    assert finding.with_ == ("Baclofen",)
    assert baclofen.suitability == "contraindicated"


def test_an_allergy_recorded_as_benzodiazepines_contraindicates_diazepam_only(
        catalog: Catalog) -> None:
    """Diazepam CONTRAINDICATIONS: known hypersensitivity to diazepam (a benzodiazepine);
    baclofen is no benzodiazepine."""
    assessment = assess_patient(ana_ms_patient().allergy("Benzodiazepines"), catalog,
                                "diazepam", "baclofen")
    diazepam = assessment.option("diazepam")
    finding = the_one(diazepam, "allergy")
    assert finding.contraindicated
    assert finding.with_ == ("Benzodiazepines",)
    assert diazepam.suitability == "contraindicated"
    assert of_kind(assessment.option("baclofen"), "allergy") == []


def test_pregnancy_brings_the_baclofen_and_diazepam_pregnancy_warnings(
        catalog: Catalog) -> None:
    """Baclofen WARNINGS (e): omphaloceles in rats at 13x the dose; use in pregnancy only if
    the benefit justifies the risk. Diazepam WARNINGS: neonatal sedation and withdrawal."""
    assessment = assess_patient(ana_ms_patient().pregnant(), catalog, "baclofen", "diazepam")
    baclofen = the_one(assessment.option("baclofen"), "pregnancy")
    assert baclofen.severity == "warning"
    assert "omphalocele" in baclofen.detail.lower()
    diazepam = of_kind(assessment.option("diazepam"), "pregnancy")
    assert diazepam
    assert any("neonate" in f.detail for f in diazepam)


def test_a_70_year_old_gets_the_older_adult_diazepam_start_of_2_to_2_5_mg(
        catalog: Catalog) -> None:
    """Diazepam DOSAGE AND ADMINISTRATION, Geriatric Patients: 2 mg to 2.5 mg, 1 or 2 times
    daily initially; increase gradually as needed and tolerated."""
    diazepam = option_for(edith_older_ms_patient(), catalog, "diazepam")
    finding = the_one(diazepam, "age")
    assert finding.severity == "warning"
    assert "Age 70" in finding.summary
    assert diazepam.dose is not None
    assert any("2 mg to 2.5 mg" in a for a in diazepam.dose.adjustments)


def test_diazepam_is_contraindicated_for_an_infant_under_6_months(catalog: Catalog) -> None:
    """Diazepam CONTRAINDICATIONS: pediatric patients under 6 months of age."""
    diazepam = option_for(leo_infant_with_cp(), catalog, "diazepam")
    finding = the_one(diazepam, "contraindication")
    assert finding.contraindicated
    assert finding.rule == "contraindication/diazepam/age"
    assert "6 months" in finding.detail
    assert diazepam.suitability == "contraindicated"


def test_cyclobenzaprine_in_heart_failure_and_diazepam_in_myasthenia_are_contraindicated(
        catalog: Catalog) -> None:
    """Cyclobenzaprine CONTRAINDICATIONS: congestive heart failure. Diazepam
    CONTRAINDICATIONS: myasthenia gravis."""
    patient = (ben_back_pain_patient().condition("Congestive heart failure")
               .condition("Myasthenia gravis"))
    assessment = assess_patient(patient, catalog, "cyclobenzaprine", "diazepam")
    for drug, words in (("cyclobenzaprine", "heart failure"),
                        ("diazepam", "myasthenia gravis")):
        option = assessment.option(drug)
        finding = the_one(option, "contraindication")
        assert finding.contraindicated
        assert words in finding.summary
        assert option.suitability == "contraindicated"


# -- the medicine list: duplicates, codes, brands, references, unknowns ---------------------


def test_a_patient_already_on_baclofen_gets_duplicate_therapy(catalog: Catalog) -> None:
    """Baclofen DOSAGE: the total daily dose should not exceed 80 mg; a second course adds."""
    current = "Baclofen 10 mg tablet"
    baclofen = option_for(ana_ms_patient().medication(current), catalog, "baclofen")
    finding = the_one(baclofen, "duplicate-therapy")
    assert finding.severity == "warning"
    assert finding.with_ == (current,)
    assert "80 mg" in finding.detail
    assert of_kind(baclofen, "interaction") == []


def test_an_unrecognised_medicine_is_named_as_missing_data_on_every_option(
        catalog: Catalog) -> None:
    """Interactions with a medicine nobody can identify cannot be checked: say so, for
    every candidate."""
    unknown = "Xyzzy 10 mg"
    assessment = assess_patient(ana_ms_patient().medication(unknown), catalog)
    assert len(assessment.options) == 8
    for option in assessment.options:
        finding = naming(option, "missing-data", unknown)
        assert finding.severity == "warning"
        assert unknown in finding.summary


def test_a_contained_medication_reference_is_resolved(catalog: Catalog) -> None:
    """Tizanidine 4 CONTRAINDICATIONS (ciprofloxacin), whichever way the record names the
    medicines: a contained tizanidine order and a ciprofloxacin statement."""
    cipro = "Ciprofloxacin 500 mg tablet"
    patient = ana_ms_patient().medication_reference("Tizanidine 4 mg tablet").medication(cipro)
    tizanidine = option_for(patient, catalog, "tizanidine")
    duplicate = the_one(tizanidine, "duplicate-therapy")
    assert duplicate.with_ == ("Tizanidine 4 mg tablet",)
    interaction = naming(tizanidine, "interaction", cipro)
    assert interaction.contraindicated
    assert tizanidine.suitability == "contraindicated"


def test_an_rxnorm_code_without_text_is_recognised_as_an_opioid(catalog: Catalog) -> None:
    """RxNorm 7804 is oxycodone: baclofen's opioid interaction applies with no text at all."""
    patient = code_only_medication(ana_ms_patient(), OXYCODONE_RXCUI)
    baclofen = option_for(patient, catalog, "baclofen")
    finding = the_one(baclofen, "interaction")
    assert finding.rule == "interaction/baclofen/opioids"
    assert finding.severity == "critical"
    assert len(finding.with_) == 1
    assert OXYCODONE_RXCUI in finding.with_[0]


def test_brand_names_are_recognised_xanax_as_a_benzodiazepine_zanaflex_as_tizanidine(
        catalog: Catalog) -> None:
    """Baclofen: CNS effects additive with other CNS depressants (Xanax is alprazolam, a
    benzodiazepine). Zanaflex is tizanidine: a duplicate, not a new drug."""
    xanax, zanaflex = "Xanax 0.5 mg tablet", "Zanaflex 4 mg capsule"
    patient = ana_ms_patient().medication(xanax).medication(zanaflex)
    assessment = assess_patient(patient, catalog, "baclofen", "tizanidine")
    by_label = {m.label: m for m in assessment.context.medicines}
    assert "benzodiazepines" in by_label[xanax].classes
    assert by_label[zanaflex].ingredients == {"tizanidine"}
    baclofen = assessment.option("baclofen")
    assert naming(baclofen, "interaction", xanax).severity == "warning"
    tizanidine = assessment.option("tizanidine")
    assert the_one(tizanidine, "duplicate-therapy").with_ == (zanaflex,)


# -- properties over the shipped examples ---------------------------------------------------


def test_every_finding_summary_in_the_examples_is_under_140_characters(
        catalog: Catalog) -> None:
    """CDS Hooks card summaries must be shorter than 140 characters."""
    summaries = [f.summary for a in example_assessments(catalog) for o in a.options
                 for f in o.findings]
    assert summaries
    too_long = [s for s in summaries if len(s) >= SUMMARY_LIMIT]
    assert too_long == []


def test_every_finding_from_an_unverified_source_says_so_in_its_citation(
        catalog: Catalog) -> None:
    """Facts from secondary sources are shown as not verified against the label."""
    unverified = [f for a in example_assessments(catalog) for o in a.options
                  for f in o.findings if f.source is not None and not f.source.verified]
    assert unverified  # the examples do rely on secondary sources (e.g. baclofen + opioids)
    for finding in unverified:
        assert finding.source is not None
        assert "not verified" in finding.source.cite(), finding.rule
