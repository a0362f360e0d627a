"""Every endpoint, every role: the allowed/denied matrix, written out by hand below and
checked over HTTP against a real database (never derived from the permission code).

The world: one pharmacy (Phil's) and another (Oscar's), one manufacturer (Mo Pharma) and
another (Acme), one regulator (the Agency); two patients: {cared}, looked after by
dora-physician and Phil's pharmacy (which dispensed to it) and the patient behind the
pat-patient account, and {other}, looked after by olga-physician and Oscar's pharmacy.

Decisions the table records:
- A role that may never take an action gets 403, decided before any lookup, so it leaks
  nothing. That includes regulators and manufacturers asking for contact details (403,
  not 404: they may never see any patient's contacts), manufacturers asking for patients,
  dispensings or prescriptions, and physicians or patients asking for stock.
- A record the caller's role could see in general, but this caller may not see, is 404
  exactly like a record that does not exist: another pharmacy's patient, another
  physician's patient, another patient's record, another manufacturer's product.
- Anonymous callers get 401 everywhere but the public drug pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import select

from medsafe.api.app import create_app
from medsafe.assessment.engine import assess
from medsafe.assessment.report import assessment_document
from medsafe.bootstrap import Container
from medsafe.care import monitoring_service, switching
from medsafe.care.diary_inputs import NewDiaryEntry, NewPlan
from medsafe.cases import service as cases
from medsafe.interop.gs1 import gtin_check_digit
from medsafe.recalls import notifying
from medsafe.recalls import service as recalls
from medsafe.recalls.inputs import NewRecall
from medsafe.records import now, organisations, patients
from medsafe.records.organisations import NewOrganisation
from medsafe.records.patients import (
    ContactDetails,
    NewAllergy,
    NewCareLink,
    NewCondition,
    NewMedication,
    NewObservation,
)
from medsafe.security import accounts
from medsafe.security.principal import SYSTEM
from medsafe.signals import management
from medsafe.store.schema import CareAlert, CaseDuplicate, RecallPatientNotice
from medsafe.supply import prescriptions
from medsafe.supply.prescriptions import NewPrescription
from tests.support.case_builder import case_report
from tests.support.databases import KINDS
from tests.support.recalls import consumer_recall_notifying, investigation_at, recall_at
from tests.support.signal_world import fresh_signal, product_name
from tests.support.world import PASSWORD, PERSONAS, ROLES, World, day, world_on

BUNDLE = (Path(__file__).resolve().parents[2] / "examples" / "ms-spasticity.json").read_bytes()
E2B = Path(__file__).resolve().parents[2] / "data" / "reports" / "e2b-examples"
XML_BODIES = {"e2b": (E2B / "FAERS2022Scenario1.xml").read_bytes(),
              "ack": (E2B / "R3ack-positive.ack").read_bytes()}


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world per database for the whole module: every cell below either only reads
    or creates what it consumes, so cells do not depend on each other's order."""
    with world_on(request.param, tmp_path_factory.mktemp("matrix")) as built:
        built.ids["mo_case"] = _case(built, "dora-physician", "mo")
        built.ids["acme_case"] = _case(built, "olga-physician", "acme")
        _signals(built)
        _recalls(built)
        yield built


def _signals(world: World) -> None:
    """A signal on Mo Pharma's product, one on Acme's, and the run that opened them."""
    for key, maker in (("mo_signal", "mo"), ("acme_signal", "acme")):
        world.ids[key] = fresh_signal(world, product_name(world, f"{maker}_product"),
                                      event="Matrix event", axis="product")
    with world.container.uow() as uow:
        world.ids["signal_run"] = management.read_signal(
            uow, SYSTEM, world.ids["mo_signal"]).signal.latest_run_id


def _recalls(world: World) -> None:
    """A published recall of Mo's lot, Acme's recall not yet triaged, and investigations
    opened by Mo and by the regulator."""
    world.ids["mo_recall"] = recall_at(world, "published")
    with world.container.uow() as uow:
        world.ids["acme_draft"] = recalls.create_recall(
            uow, SYSTEM, NewRecall.model_validate({
                "reason_for_recall": "label mix-up", "reason": "matrix",
                "products": [{"description": "Tizanidine 10 mg"}],
                "firm_organisation_id": world.ids["acme"]})).summary.id
    # Mo's lot reached Phil's pharmacy and its patient: a retail recall being notified
    # leaves a proposal to tell that patient with the pharmacy.
    world.ids["notifying_recall"] = recall_at(world, "notifying")
    world.ids["mo_investigation"] = investigation_at(world, "open")
    world.ids["agency_investigation"] = investigation_at(world, "open", who="rita-regulator")


def _pair(world: World) -> int:
    """A suggested duplicate pair of two fresh cases about Mo Pharma's product."""
    first, second = _case(world, "dora-physician", "mo"), _case(world, "dora-physician", "mo")
    with world.container.uow() as uow:
        pair = uow.cases.add(CaseDuplicate(case_id=first, other_case_id=second, score=9.0,
                                           evidence="{}", status="suggested"))
        uow.commit()
        return pair.id


def _case(world: World, reporter: str, maker: str) -> int:
    """A case reported by a physician about a maker's product, with a fresh worldwide id."""
    report = case_report(f"US-MATRIX-{world.next()}", product_id=world.ids[f"{maker}_product"],
                         lots=(f"{maker.upper()}-001",))
    with world.container.uow() as uow:
        return cases.report_case(uow, world.principals[reporter], world.container.catalog,
                                 report).id


# -- what some cells consume, made fresh for each -----------------------------------------------

def _fresh(world: World, make: Callable[[Any], Any]) -> int:
    with world.container.uow() as uow:
        made: int = make(uow).id
    return made


FRESH: dict[str, Callable[[World], Any]] = {
    "cared_condition": lambda w: _fresh(w, lambda uow: patients.add_condition(
        uow, SYSTEM, w.ids["cared"], NewCondition(text="Headache"))),
    "other_condition": lambda w: _fresh(w, lambda uow: patients.add_condition(
        uow, SYSTEM, w.ids["other"], NewCondition(text="Headache"))),
    "cared_allergy": lambda w: _fresh(w, lambda uow: patients.add_allergy(
        uow, SYSTEM, w.ids["cared"], NewAllergy(text="Penicillin"))),
    "cared_observation": lambda w: _fresh(w, lambda uow: patients.add_observation(
        uow, SYSTEM, w.ids["cared"],
        NewObservation(kind="egfr", value=80, observed_on=day("2025-01-01")))),
    "cared_medication": lambda w: _fresh(w, lambda uow: patients.add_medication(
        uow, SYSTEM, w.ids["cared"], NewMedication(text="Ibuprofen 200 mg"))),
    "cared_link": lambda w: _fresh(w, lambda uow: patients.link_care(
        uow, SYSTEM, w.ids["cared"], NewCareLink(pharmacy_id=_new_pharmacy(w)))),
    "fresh_mo_case": lambda w: _case(w, "dora-physician", "mo"),
    "fresh_mo_pair": lambda w: _pair(w),
    "fresh_signal": lambda w: fresh_signal(w, f"matrix drug {w.next()}"),
    **{f"recall_{state}": partial(recall_at, state=state)
       for state in ("detected", "initiated", "classified", "notifying", "completed")},
    **{f"investigation_{state}": partial(investigation_at, state=state)
       for state in ("open", "hazard_evaluated", "advisory_review", "voted", "decided")},
    "investigation_decided_recall": lambda w: investigation_at(w, "decided",
                                                               decision="recall"),
    "fresh_proposal": lambda w: _proposal(w),
    "care_recall": lambda w: consumer_recall_notifying(w),
    "care_review": lambda w: _care_review(w),
    "care_plan": lambda w: _care_plan(w),
    "care_entry": lambda w: _care_entry(w, red_flags=[]),
    "care_alert": lambda w: _care_alert(w),
    "my_notice": lambda w: _my_notice(w),
    "fresh_letter": lambda w: _letter(w)[0],
    "fresh_task": lambda w: _letter(w)[1],
    "active_rx": lambda w: _fresh(w, lambda uow: prescriptions.prescribe(
        uow, w.principals["dora-physician"], w.container.catalog,
        NewPrescription(patient=w.ids["cared"], ingredient="baclofen", dose_text="5 mg"))),
}


def _proposal(world: World) -> int:
    """A proposal waiting at Phil's pharmacy: that of a fresh retail recall of Mo's lot."""
    recall_id = recall_at(world, "notifying")
    with world.container.uow() as uow:
        found, _ = notifying.list_proposals(uow, world.principals["alice-admin"],
                                            recall_id=recall_id)
    return found[0].id


def _care_review(world: World) -> int:
    """Pat's review of a fresh consumer-depth recall of Mo's lot, proposed by an admin."""
    recall_id = consumer_recall_notifying(world)
    admin = world.principals["alice-admin"]
    with world.container.uow() as uow:
        switching.propose_for_recall(uow, admin, world.container.catalog, recall_id,
                                     today=now().date())
    with world.container.uow() as uow:
        found, _ = switching.list_reviews(uow, admin, recall_id=recall_id)
    return found[0].id


def _care_plan(world: World) -> int:
    """The monitoring plan Dora started by hand for Pat (outside a review), started by the
    first cell that needs it (a second such plan would be refused as a duplicate)."""
    if "care_plan" in world.ids:
        return int(world.ids["care_plan"])
    with world.container.uow() as uow:
        world.ids["care_plan"] = monitoring_service.start_plan_for(
            uow, world.principals["dora-physician"], world.ids["cared"],
            NewPlan(medicine_from="baclofen", medicine_to="baclofen", reason="matrix"),
            today=now().date(), catalog=world.container.catalog).id
    return int(world.ids["care_plan"])


def _care_entry(world: World, *, red_flags: list[str]) -> int:
    with world.container.uow() as uow:
        done = monitoring_service.record_diary(
            uow, world.principals["pat-patient"], _care_plan(world),
            NewDiaryEntry(scores={"spasticity": 5}, red_flags=red_flags), today=now().date())
    return done.entry.id


def _care_alert(world: World) -> int:
    entry_id = _care_entry(world, red_flags=["hallucinations"])
    with world.container.uow() as uow:
        return int(uow.session.execute(select(CareAlert.id).where(
            CareAlert.diary_entry_id == entry_id)).scalars().first() or 0)


def _my_notice(world: World) -> int:
    recall_id = consumer_recall_notifying(world)
    with world.container.uow() as uow:
        return uow.session.execute(select(RecallPatientNotice.id).where(
            RecallPatientNotice.recall_id == recall_id,
            RecallPatientNotice.patient_id == world.principals["pat-patient"].patient_id)
        ).scalar_one()


def _letter(world: World) -> tuple[int, int]:
    """A proposal approved for a patient without an e-mail address: (the notice, now a
    letter; its phone-call task). Other cells give the patient an address: it is taken
    away first."""
    notice_id = _proposal(world)
    admin = world.principals["alice-admin"]
    with world.container.uow() as uow:
        patients.update_contacts(uow, admin, world.ids["cared"], ContactDetails(
            full_name="Pat Example", phone="+44 20 7946 0000"))
    with world.container.uow() as uow:
        notice = notifying.decide_patient_notice(uow, admin, notice_id, notifying.NoticeDecision(
            decision="approve", reason="matrix"), catalog=world.container.catalog)
    with world.container.uow() as uow:
        tasks, _ = notifying.list_tasks(uow, admin, recall_id=notice.recall_id)
    return notice_id, tasks[0].id


def _new_pharmacy(world: World) -> int:
    with world.container.uow() as uow:
        return organisations.create_organisation(uow, SYSTEM, NewOrganisation(
            kind="pharmacy", name=f"Pharmacy {world.next()}")).id


# Request bodies; each call gets a fresh serial number so that creations never collide.
BODIES: dict[str, Callable[[World, int], dict[str, Any]]] = {
    "patient": lambda w, n: {"birth_date": "1980-05-01", "sex": "male"},
    "contacts": lambda w, n: {"full_name": "Pat Example", "email": "pat@example.org",
                              "phone": "+44 20 7946 0000"},
    "preferences": lambda w, n: {"route": "oral", "avoid_side_effects": ["drowsiness"]},
    "condition": lambda w, n: {"text": "Spasticity", "severity": "moderate"},
    "allergy": lambda w, n: {"text": "Penicillin", "reaction": "rash"},
    "observation": lambda w, n: {"kind": "egfr", "value": 75, "observed_on": "2025-02-01"},
    "medication": lambda w, n: {"text": "Ibuprofen 200 mg"},
    "care_link": lambda w, n: {"pharmacy_id": _new_pharmacy(w)},
    "organisation": lambda w, n: {"kind": "clinic", "name": f"Clinic {n}", "country": "GB"},
    "product": lambda w, n: {"code_system": "other", "code": f"MO-{n}", "name": "Baclofen 5",
                             "ingredient_id": "baclofen", "manufacturer_id": w.ids["mo_pharma"]},
    "lot": lambda w, n: {"lot_number": f"L-{n}", "expiry": "2032-01-31"},
    "stock": lambda w, n: {"quantity": 100_000},
    # Mo's lot is under the world's published recall: dispensing it takes an override.
    "dispense_cared": lambda w, n: {"patient": w.ids["cared"], "lot_id": w.ids["mo_lot"],
                                    "quantity": 1, "override_reason": "no other supply"},
    "dispense_recalled": lambda w, n: {"patient": w.ids["cared"], "lot_id": w.ids["mo_lot"],
                                       "quantity": 1},
    "dispense_other": lambda w, n: {"patient": w.ids["other"], "lot_id": w.ids["mo_lot"],
                                    "quantity": 1},
    "prescribe_cared": lambda w, n: {"patient": w.ids["cared"], "ingredient": "baclofen",
                                     "dose_text": "5 mg three times a day"},
    "prescribe_other": lambda w, n: {"patient": w.ids["other"], "ingredient": "baclofen",
                                     "dose_text": "5 mg three times a day"},
    "stop": lambda w, n: {"reason": "drowsiness at work"},
    # A pack of Mo's recalled lot: GTIN-14 of NDC 12345-678-90 (ten digits 1234567890).
    "scan": lambda w, n: {"element_string": f"(01)0031234567890{gtin_check_digit('0031234567890')}"
                                            "(17)311231(10)MO-001"},
    "case": lambda w, n: case_report(f"US-MATRIX-BODY-{n}").model_dump(mode="json"),
    "step": lambda w, n: {"reason": "triaged"},
    "notice_decision": lambda w, n: {"decision": "decline", "reason": "moved away"},
    "task_outcome": lambda w, n: {"outcome": "left_message", "note": "voicemail"},
    "care_patient": lambda w, n: {"patient": w.ids["cared"]},
    # Pat's baclofen doses vary with the cells before (some add a prescription whose dose
    # says no frequency): Dora writes the taper, which every switch off baclofen accepts.
    "care_decision": lambda w, n: {
        "rank": 1, "reason": "matrix: the prescriber writes the taper",
        "taper_steps": [{"day": 0, "days": 7, "dose_mg": 5, "times_per_day": 2},
                        {"day": 7, "days": 7, "dose_mg": 5, "times_per_day": 1}]},
    "diary": lambda w, n: {"scores": {"spasticity": 4, "sleep_quality": 7}},
    "diary_case": lambda w, n: {"reactions": ["spasticity"]},
    "alert_resolution": lambda w, n: {"note": "called the patient; seen today"},
    "duplicate_search": lambda w, n: {"threshold": 50},
    "duplicate_decision": lambda w, n: {"confirm": False, "reason": "different patients"},
    # a given prior: the matrix world's few cases are too few to fit one
    "signal_run": lambda w, n: {"axis": "product", "prior": {
        "alpha1": 0.2, "beta1": 0.1, "alpha2": 2, "beta2": 4, "p": 0.3}},
    "signal_step": lambda w, n: {"to": "validated", "note": "worth assessing"},
    "user": lambda w, n: {"username": f"new-user-{n}", "password": PASSWORD,
                          "display_name": "New User", "role": "physician"},
    "recall": lambda w, n: {"reason_for_recall": "subpotent", "firm": {"name": "Mo Pharma"},
                            "products": [{"description": f"Baclofen {n}"}], "reason": "r"},
    "recall_step": lambda w, n: {"transition": "triage", "reason": "a recall"},
    "classification": lambda w, n: {"classification": "II", "reason": "hazard"},
    "strategy": lambda w, n: {"depth": "retail", "public_warning": "none",
                              "effectiveness_check": "C", "reason": "r"},
    "status_report": lambda w, n: {"as_of": "2026-01-10", "consignees_notified": 0,
                                   "reason": "r"},
    "termination": lambda w, n: {"written_request": "effective", "disposition": "destroyed",
                                 "reason": "r"},
    "investigation": lambda w, n: {"product": "Baclofen", "origin": "quality_defect",
                                   "description": "crumbling", "reason": "r"},
    "analysis": lambda w, n: {"summary": "two reports", "reason": "r"},
    "lot_test": lambda w, n: {"lot": "MO-001", "test": "assay", "result": "88%",
                              "specification": "95-105%", "passed": False,
                              "tested_on": "2026-01-05", "reason": "r"},
    "hazard": lambda w, n: {"injuries_occurred": False, "exposure_conditions": "short doses",
                            "populations_at_risk": ["adults"], "seriousness": "moderate",
                            "likelihood": "remote", "consequences": "symptoms",
                            "reason": "r"},
    "benefit_risk": lambda w, n: {"condition_severity": "chronic", "alternatives": "some",
                                  "safety_profile": "known", "reason": "r"},
    "review": lambda w, n: {"members": [{"name": "A"}], "questions": [
        {"key": "q", "text": "Recall?"}], "reason": "r"},
    "member": lambda w, n: {"name": f"Member {n}", "reason": "r"},
    "conflict": lambda w, n: {"member": "A", "product": "Baclofen 10 mg", "nature": "fees",
                              "reason": "r"},
    "vote": lambda w, n: {"member": "A", "question": "q", "choice": "yes", "reason": "r"},
    "recommendation": lambda w, n: {"recommendation": "recall", "reason": "r"},
    "decision": lambda w, n: {"kind": "no_action", "rationale": "harmless", "reason": "r"},
    "reason": lambda w, n: {"reason": "r"},
    "from_investigation": lambda w, n: {"reason": "as decided"},
}

# -- THE TABLE ------------------------------------------------------------------------------------
#          admin regul manuf pharm physi patie anon
M = tuple[int, int, int, int, int, int, int]
MATRIX: list[tuple[str, str, str | None, M]] = [
    # auth (the token cell logs in with the role's own password; anonymous sends a wrong one)
    ("POST", "/api/v1/auth/token", "login", (200, 200, 200, 200, 200, 200, 401)),
    ("POST", "/api/v1/auth/revoke", None, (204, 204, 204, 204, 204, 204, 401)),
    ("GET", "/api/v1/auth/me", None, (200, 200, 200, 200, 200, 200, 401)),
    # the public drug catalog
    ("GET", "/api/v1/drugs", None, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/drugs/baclofen", None, (200, 200, 200, 200, 200, 200, 200)),
    ("POST", "/api/v1/assessments", "bundle", (200, 200, 200, 200, 200, 200, 401)),
    # patients
    ("GET", "/api/v1/patients", None, (200, 200, 403, 200, 200, 200, 401)),
    ("POST", "/api/v1/patients", "patient", (201, 403, 403, 201, 201, 403, 401)),
    ("GET", "/api/v1/patients/{cared}", None, (200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/patients/{other}", None, (200, 200, 403, 404, 404, 404, 401)),
    ("GET", "/api/v1/patients/{cared}/contacts", None, (200, 403, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/patients/{other}/contacts", None, (200, 403, 403, 404, 404, 404, 401)),
    ("PUT", "/api/v1/patients/{cared}/contacts", "contacts",
     (200, 403, 403, 200, 200, 200, 401)),
    ("PUT", "/api/v1/patients/{other}/contacts", "contacts",
     (200, 403, 403, 404, 404, 404, 401)),
    ("PUT", "/api/v1/patients/{cared}/preferences", "preferences",
     (200, 403, 403, 200, 200, 200, 401)),
    ("PUT", "/api/v1/patients/{other}/preferences", "preferences",
     (200, 403, 403, 404, 404, 404, 401)),
    ("POST", "/api/v1/patients/{cared}/conditions", "condition",
     (201, 403, 403, 403, 201, 403, 401)),
    ("POST", "/api/v1/patients/{other}/conditions", "condition",
     (201, 403, 403, 403, 404, 403, 401)),
    ("DELETE", "/api/v1/patients/{cared}/conditions/{cared_condition}", None,
     (204, 403, 403, 403, 204, 403, 401)),
    ("DELETE", "/api/v1/patients/{other}/conditions/{other_condition}", None,
     (204, 403, 403, 403, 404, 403, 401)),
    ("POST", "/api/v1/patients/{cared}/allergies", "allergy",
     (201, 403, 403, 201, 201, 403, 401)),
    ("POST", "/api/v1/patients/{other}/allergies", "allergy",
     (201, 403, 403, 404, 404, 403, 401)),
    ("DELETE", "/api/v1/patients/{cared}/allergies/{cared_allergy}", None,
     (204, 403, 403, 204, 204, 403, 401)),
    ("POST", "/api/v1/patients/{cared}/observations", "observation",
     (201, 403, 403, 403, 201, 403, 401)),
    ("DELETE", "/api/v1/patients/{cared}/observations/{cared_observation}", None,
     (204, 403, 403, 403, 204, 403, 401)),
    ("POST", "/api/v1/patients/{cared}/medications", "medication",
     (201, 403, 403, 201, 201, 201, 401)),
    ("POST", "/api/v1/patients/{other}/medications", "medication",
     (201, 403, 403, 404, 404, 404, 401)),
    ("DELETE", "/api/v1/patients/{cared}/medications/{cared_medication}", None,
     (204, 403, 403, 204, 204, 204, 401)),
    ("POST", "/api/v1/patients/{cared}/care-team", "care_link",
     (201, 403, 403, 403, 201, 403, 401)),
    ("DELETE", "/api/v1/patients/{cared}/care-team/{cared_link}", None,
     (204, 403, 403, 403, 204, 403, 401)),
    ("GET", "/api/v1/patients/{cared}/assessment", None, (200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/patients/{other}/assessment", None, (200, 200, 403, 404, 404, 404, 401)),
    # organisations
    ("GET", "/api/v1/organisations", None, (200, 200, 200, 200, 200, 200, 401)),
    ("POST", "/api/v1/organisations", "organisation", (201, 403, 403, 403, 403, 403, 401)),
    ("GET", "/api/v1/organisations/{phil_pharmacy}", None,
     (200, 200, 200, 200, 200, 200, 401)),
    # products and lots
    ("GET", "/api/v1/products", None, (200, 200, 200, 200, 200, 200, 401)),
    ("POST", "/api/v1/products", "product", (201, 403, 201, 403, 403, 403, 401)),
    ("GET", "/api/v1/products/{mo_product}", None, (200, 200, 200, 200, 200, 200, 401)),
    ("GET", "/api/v1/products/{acme_product}", None, (200, 200, 404, 200, 200, 200, 401)),
    ("GET", "/api/v1/products/{mo_product}/lots", None, (200, 200, 200, 200, 200, 200, 401)),
    ("GET", "/api/v1/products/{acme_product}/lots", None,
     (200, 200, 404, 200, 200, 200, 401)),
    ("POST", "/api/v1/products/{mo_product}/lots", "lot", (201, 403, 201, 403, 403, 403, 401)),
    ("POST", "/api/v1/products/{acme_product}/lots", "lot",
     (201, 403, 404, 403, 403, 403, 401)),
    # stock
    ("GET", "/api/v1/stock", None, (200, 200, 200, 200, 403, 403, 401)),
    ("PUT", "/api/v1/stock/{phil_pharmacy}/{mo_lot}", "stock",
     (200, 403, 403, 200, 403, 403, 401)),
    ("PUT", "/api/v1/stock/{other_pharmacy}/{acme_lot}", "stock",
     (200, 403, 403, 403, 403, 403, 401)),
    # dispensing
    ("GET", "/api/v1/dispensings", None, (200, 200, 403, 200, 200, 200, 401)),
    ("POST", "/api/v1/dispensings", "dispense_cared", (403, 403, 403, 201, 403, 403, 401)),
    ("POST", "/api/v1/dispensings", "dispense_other", (403, 403, 403, 404, 403, 403, 401)),
    ("POST", "/api/v1/dispensings", "dispense_recalled", (403, 403, 403, 409, 403, 403, 401)),
    ("GET", "/api/v1/dispensings/recipients?lot_id={mo_lot}", None,
     (200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/dispensings/{cared_dispensing}", None,
     (200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/dispensings/{other_dispensing}", None,
     (200, 200, 403, 404, 404, 404, 401)),
    # prescriptions
    ("GET", "/api/v1/prescriptions", None, (200, 200, 403, 200, 200, 200, 401)),
    ("POST", "/api/v1/prescriptions", "prescribe_cared", (403, 403, 403, 403, 201, 403, 401)),
    ("POST", "/api/v1/prescriptions", "prescribe_other", (403, 403, 403, 403, 404, 403, 401)),
    ("GET", "/api/v1/prescriptions/{cared_rx}", None, (200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/prescriptions/{other_rx}", None, (200, 200, 403, 404, 404, 404, 401)),
    ("POST", "/api/v1/prescriptions/{active_rx}/stop", "stop",
     (403, 403, 403, 403, 200, 403, 401)),
    # the audit trail
    ("GET", "/api/v1/audit", None, (200, 200, 403, 403, 403, 403, 401)),
    ("GET", "/api/v1/audit/verify", None, (200, 200, 403, 403, 403, 403, 401)),
    # accounts
    ("GET", "/api/v1/users", None, (200, 403, 403, 403, 403, 403, 401)),
    ("POST", "/api/v1/users", "user", (201, 403, 403, 403, 403, 403, 401)),
    # adverse-event cases (clinicians see what they reported; makers, their own products)
    ("GET", "/api/v1/cases", None, (200, 200, 200, 200, 200, 200, 401)),
    ("POST", "/api/v1/cases", "case", (201, 201, 201, 201, 201, 201, 401)),
    ("GET", "/api/v1/cases/workload", None, (200, 200, 200, 403, 403, 403, 401)),
    ("GET", "/api/v1/cases/line-listing?start=2026-01-01&end=2026-12-31&ingredient=baclofen",
     None, (200, 200, 200, 200, 200, 200, 401)),
    ("GET", "/api/v1/cases/{mo_case}", None, (200, 200, 200, 404, 200, 404, 401)),
    ("GET", "/api/v1/cases/{acme_case}", None, (200, 200, 404, 404, 404, 404, 401)),
    ("GET", "/api/v1/cases/{mo_case}/versions/1", None, (200, 200, 200, 404, 200, 404, 401)),
    ("POST", "/api/v1/cases/{fresh_mo_case}/steps/accept", "step",
     (200, 403, 200, 403, 403, 403, 401)),
    ("POST", "/api/v1/cases/e2b", "e2b", (200, 200, 200, 403, 403, 403, 401)),
    # an acknowledgement of a batch medsafe never sent: 404 for those who may record one
    ("POST", "/api/v1/cases/acknowledgements", "ack", (404, 403, 404, 403, 403, 403, 401)),
    # the export carries identities: refused to roles that see cases de-identified
    ("GET", "/api/v1/cases/{mo_case}/e2b", None, (200, 403, 403, 404, 200, 404, 401)),
    ("POST", "/api/v1/cases/duplicates/search", "duplicate_search",
     (200, 403, 200, 403, 403, 403, 401)),
    ("GET", "/api/v1/cases/duplicates", None, (200, 403, 200, 403, 403, 403, 401)),
    ("POST", "/api/v1/cases/duplicates/{fresh_mo_pair}/decision", "duplicate_decision",
     (200, 403, 200, 403, 403, 403, 401)),
    # signals: statistics over everyone's reports, for the safety team and the regulator; a
    # maker sees those about its own products; only admins and regulators run and decide
    ("GET", "/api/v1/signals/runs", None, (200, 200, 200, 403, 403, 403, 401)),
    ("POST", "/api/v1/signals/runs", "signal_run", (201, 201, 403, 403, 403, 403, 401)),
    ("GET", "/api/v1/signals/runs/{signal_run}", None, (200, 200, 200, 403, 403, 403, 401)),
    ("GET", "/api/v1/signals/runs/{signal_run}/pairs", None,
     (200, 200, 200, 403, 403, 403, 401)),
    ("GET", "/api/v1/signals", None, (200, 200, 200, 403, 403, 403, 401)),
    ("GET", "/api/v1/signals/{mo_signal}", None, (200, 200, 200, 403, 403, 403, 401)),
    ("GET", "/api/v1/signals/{acme_signal}", None, (200, 200, 404, 403, 403, 403, 401)),
    ("GET", "/api/v1/signals/{mo_signal}/cases", None, (200, 200, 200, 403, 403, 403, 401)),
    ("GET", "/api/v1/signals/{acme_signal}/cases", None,
     (200, 200, 404, 403, 403, 403, 401)),
    ("GET", "/api/v1/signals/{mo_signal}/trend?by=quarter", None,
     (200, 200, 200, 403, 403, 403, 401)),
    ("POST", "/api/v1/signals/{fresh_signal}/steps", "signal_step",
     (200, 200, 403, 403, 403, 403, 401)),
    # recalls: public once published (and imported ones); a firm starts its own and acts as
    # its firm; each step by its Part 7 role (a wrong one is 409, a patient has none: 403)
    ("GET", "/api/v1/recalls", None, (200, 200, 200, 200, 200, 200, 401)),
    ("POST", "/api/v1/recalls", "recall", (201, 403, 201, 403, 403, 403, 401)),
    ("GET", "/api/v1/recalls/{mo_recall}", None, (200, 200, 200, 200, 200, 200, 401)),
    ("GET", "/api/v1/recalls/{acme_draft}", None, (200, 200, 404, 404, 404, 404, 401)),
    # the scan check: anyone signed in may ask whether a pack is recalled
    ("POST", "/api/v1/scans", "scan", (200, 200, 200, 200, 200, 200, 401)),
    ("POST", "/api/v1/recalls/{recall_detected}/steps", "recall_step",
     (200, 200, 200, 404, 404, 403, 401)),
    ("POST", "/api/v1/recalls/{recall_initiated}/classification", "classification",
     (200, 200, 409, 404, 404, 403, 401)),
    ("POST", "/api/v1/recalls/{recall_classified}/strategy", "strategy",
     (200, 200, 200, 404, 404, 403, 401)),
    ("POST", "/api/v1/recalls/{recall_notifying}/status-reports", "status_report",
     (200, 409, 200, 409, 409, 403, 401)),
    ("POST", "/api/v1/recalls/{recall_completed}/termination-request", "termination",
     (200, 409, 200, 409, 409, 403, 401)),
    # a pharmacy's part: its patient notices and calls (an admin's: all); others none
    ("GET", "/api/v1/recalls/{notifying_recall}/patient-notices?state=proposed", None,
     (200, 403, 403, 200, 403, 403, 401)),
    ("GET", "/api/v1/recalls/{notifying_recall}/tasks", None,
     (200, 403, 403, 200, 403, 403, 401)),
    ("POST", "/api/v1/recall-notices/{fresh_proposal}/decision", "notice_decision",
     (200, 403, 403, 200, 403, 403, 401)),
    ("GET", "/api/v1/recall-notices/{fresh_letter}/letter", None,
     (200, 403, 403, 200, 403, 403, 401)),
    ("POST", "/api/v1/recall-tasks/{fresh_task}/outcome", "task_outcome",
     (200, 403, 403, 200, 403, 403, 401)),
    # investigations: the firm's and the regulator's (a maker sees its own only)
    ("GET", "/api/v1/investigations", None, (200, 200, 200, 403, 403, 403, 401)),
    ("POST", "/api/v1/investigations", "investigation", (201, 201, 201, 403, 403, 403, 401)),
    ("GET", "/api/v1/investigations/{mo_investigation}", None,
     (200, 200, 200, 403, 403, 403, 401)),
    ("GET", "/api/v1/investigations/{agency_investigation}", None,
     (200, 200, 404, 403, 403, 403, 401)),
    *(("POST", f"/api/v1/investigations/{{investigation_{state}}}/{path}", body,
       (200, 200, 200, 403, 403, 403, 401)) for state, path, body in (
        ("open", "analysis", "analysis"), ("open", "lot-tests", "lot_test"),
        ("open", "hazard", "hazard"), ("open", "benefit-risk", "benefit_risk"),
        ("hazard_evaluated", "review", "review"),
        ("advisory_review", "review/members", "member"),
        ("advisory_review", "review/conflicts", "conflict"),
        ("advisory_review", "review/votes", "vote"),
        ("voted", "review/recommendation", "recommendation"),
        ("hazard_evaluated", "decision", "decision"), ("decided", "close", "reason"))),
    ("POST", "/api/v1/investigations/{investigation_decided_recall}/recall",
     "from_investigation", (201, 201, 201, 403, 403, 403, 401)),
    # care: patient-level, so never regulators or manufacturers; pharmacists and
    # physicians for their own patients, the patient for herself
    ("POST", "/api/v1/recalls/{care_recall}/care/proposals", None,
     (200, 403, 403, 200, 200, 403, 401)),
    ("POST", "/api/v1/recalls/{care_recall}/care/proposals/patient", "care_patient",
     (200, 403, 403, 200, 200, 403, 401)),
    ("GET", "/api/v1/care/reviews", None, (200, 403, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/care/reviews/{care_review}", None, (200, 403, 403, 200, 200, 200, 401)),
    ("POST", "/api/v1/care/reviews/{care_review}/decision", "care_decision",
     (200, 403, 403, 403, 200, 403, 401)),
    ("GET", "/api/v1/care/overview", None, (200, 403, 403, 403, 200, 403, 401)),
    ("GET", "/api/v1/patients/{cared}/care", None, (200, 403, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/patients/{other}/care", None, (200, 403, 403, 404, 404, 404, 401)),
    ("GET", "/api/v1/care/plans/{care_plan}", None, (200, 403, 403, 200, 200, 200, 401)),
    ("POST", "/api/v1/care/plans/{care_plan}/diary", "diary",
     (201, 403, 403, 201, 201, 201, 401)),
    ("POST", "/api/v1/care/diary/{care_entry}/case", "diary_case",
     (201, 403, 403, 201, 201, 201, 401)),
    ("POST", "/api/v1/care/alerts/{care_alert}/resolve", "alert_resolution",
     (200, 403, 403, 403, 200, 403, 401)),
    ("POST", "/api/v1/care/follow-up", None, (200, 403, 403, 403, 403, 403, 401)),
    ("GET", "/api/v1/my/notices", None, (403, 403, 403, 403, 403, 200, 401)),
    # decision support: the override report per rule, for those who tune the rules
    ("GET", "/api/v1/cds/overrides", None, (200, 403, 403, 200, 200, 403, 401)),
    ("POST", "/api/v1/my/notices/{my_notice}/acknowledgement", None,
     (403, 403, 403, 403, 403, 200, 401)),
]

CELLS = [
    pytest.param(method, path, body, role, statuses[column],
                 id=f"{method} {path}{f' [{body}]' if body else ''} as {role}")
    for method, path, body, statuses in MATRIX
    for column, role in enumerate(ROLES)
]
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _concrete(world: World, path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(FRESH[name](world) if name in FRESH else world.ids[name])

    return PLACEHOLDER.sub(value, path)


def _call(world: World, method: str, path: str, body: str | None, role: str) -> Any:
    url = _concrete(world, path)
    headers = world.bearer(role)
    if body == "login":
        username = PERSONAS.get(role, "nobody")
        password = PASSWORD if role in PERSONAS else "wrong password"
        return world.client.post(url, data={"username": username, "password": password})
    if path.endswith("/auth/revoke") and role in PERSONAS:
        # Revoke a token of its own, not the one the other cells use.
        with world.container.uow() as uow:
            fresh = accounts.issue_token(uow, world.principals[PERSONAS[role]], 5).token
            uow.commit()
        headers = {"Authorization": f"Bearer {fresh}"}
    if body == "bundle":
        return world.client.post(url, content=BUNDLE,
                                 headers={**headers, "Content-Type": "application/fhir+json"})
    if body in XML_BODIES:
        return world.client.post(url, content=XML_BODIES[body],
                                 headers={**headers, "Content-Type": "application/xml"})
    payload = BODIES[body](world, world.next()) if body else None
    return world.client.request(method, url, json=payload, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "role", "expected"), CELLS)
def test_the_matrix(world: World, method: str, path: str, body: str | None, role: str,
                    expected: int) -> None:
    reply = _call(world, method, path, body, role)
    assert reply.status_code == expected, reply.text
    if expected >= 400:
        assert reply.headers["content-type"] == "application/problem+json"


def _api_routes(app: Any) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if path.startswith("/api/v1"):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, path))
    return found


def _template_of(path: str, routes: set[tuple[str, str]], method: str) -> tuple[str, str]:
    bare = path.split("?")[0]
    matching = [template for route_method, template in routes if route_method == method
                and re.match("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$",
                             bare)]
    if bare in matching:  # /dispensings/recipients, not /dispensings/{dispensing_id}
        return method, bare
    assert len(matching) == 1, f"{method} {path} matches {matching or 'no route'}"
    return method, matching[0]


def test_every_api_route_is_in_the_table(container: Container) -> None:
    routes = _api_routes(create_app(container))
    covered = {_template_of(path, routes, method) for method, path, _, _ in MATRIX}
    assert routes - covered == set(), "routes missing from MATRIX"
    assert covered <= routes


# -- what the allowed callers get: only what they may see -------------------------------------

def _get(world: World, role: str, url: str) -> Any:
    reply = world.client.get(url, headers=world.bearer(role))
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_lists_hold_only_what_the_caller_may_see(world: World) -> None:
    cared, other = world.ids["cared"], world.ids["other"]

    def pseudonyms(role: str) -> set[str]:
        items = _get(world, role, "/api/v1/patients?page_size=200")["items"]
        return {p["pseudonym"] for p in items}

    assert {cared, other} <= pseudonyms("admin")
    assert {cared, other} <= pseudonyms("regulator")
    assert other not in pseudonyms("pharmacist")
    assert cared in pseudonyms("pharmacist")
    assert other not in pseudonyms("physician")
    assert pseudonyms("patient") == {cared}
    mine = {d["patient"] for d in _get(world, "patient", "/api/v1/dispensings")["items"]}
    assert mine == {cared}
    theirs = _get(world, "manufacturer", "/api/v1/products?page_size=200")["items"]
    assert {p["manufacturer_id"] for p in theirs} == {world.ids["mo_pharma"]}
    held = _get(world, "pharmacist", "/api/v1/stock")["items"]
    assert {s["pharmacy_id"] for s in held} == {world.ids["phil_pharmacy"]}


def test_regulators_see_pseudonyms_and_birth_years_not_birth_dates(world: World) -> None:
    record = _get(world, "regulator", f"/api/v1/patients/{world.ids['cared']}")
    assert record["birth_date"] is None
    assert record["birth_year"] == 1974
    assert _get(world, "physician", f"/api/v1/patients/{world.ids['cared']}")["birth_date"] \
        == "1974-02-20"
    lot = world.ids["acme_lot"]
    recipients = _get(world, "regulator", f"/api/v1/dispensings/recipients?lot_id={lot}")
    assert recipients["items"] == [{"pseudonym": world.ids["other"], "synthetic": True}]
    assert "birth" not in json.dumps(recipients)


def test_a_pharmacy_sees_only_its_own_recipients_of_a_lot(world: World) -> None:
    lot = world.ids["acme_lot"]
    assert _get(world, "pharmacist", f"/api/v1/dispensings/recipients?lot_id={lot}") \
        ["items"] == []
    by_code = _get(world, "admin", "/api/v1/dispensings/recipients"
                                   "?product_code=54321-876-09&lot_number=ACME-001")
    assert [r["pseudonym"] for r in by_code["items"]] == [world.ids["other"]]


def test_regulators_never_see_contact_details_even_in_the_audit_trail(world: World) -> None:
    pseudonym = world.ids["other"]
    reply = world.client.put(f"/api/v1/patients/{pseudonym}/contacts",
                             headers=world.bearer("admin"),
                             json={"full_name": "Olive Smith", "email": "olive@example.org",
                                   "phone": "+44 161 496 0123"})
    assert reply.status_code == 200
    trail = _get(world, "regulator",
                 f"/api/v1/audit?entity=patient_contact&entity_id={pseudonym}")
    text = json.dumps(trail)
    assert trail["total"] >= 1
    assert "olive@example.org" not in text
    assert "Olive Smith" not in text
    assert "0123" not in text
    changes = trail["items"][0]["changes"]
    assert changes["email"][1] == "o***@example.org"
    assert changes["full_name"][1] == "O. S."


def test_the_stored_patient_is_assessed_as_the_cli_would_assess_it(world: World) -> None:
    pseudonym = world.ids["cared"]
    url = f"/api/v1/patients/{pseudonym}/assessment?as_of=2026-01-15"
    document = _get(world, "physician", url)
    with world.container.uow() as uow:
        record = patients.patient_record(uow, world.principals["dora-physician"], pseudonym,
                                         world.container.catalog)
    expected = assessment_document(assess(record, world.container.catalog,
                                          today=date(2026, 1, 15)))
    assert document == json.loads(json.dumps(expected))
    assert document["patient"]["id"] == pseudonym
    assert "multiple-sclerosis" in document["patient"]["conditions"]
    # The active baclofen prescription is one of the patient's current medicines.
    assert any("baclofen" in m["ingredients"] for m in document["patient"]["medicines"])
    only = _get(world, "physician", f"{url}&drug=tizanidine")
    assert [o["drug"] for o in only["options"]] == ["tizanidine"]
